"""The dashboard's run-table inputs, translated into the selectors' vocabulary (RunFilter, Ordering)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms

from history.models import Run
from history.selectors import Ordering
from jobs.text import CleanTextMixin

PER_PAGE = 25
# Dashboard sort key → (Run field, newest/largest first).
SORTS = {
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "-duration_ms": ("duration_ms", True),
    "duration_ms": ("duration_ms", False),
    "-lateness_ms": ("lateness_ms", True),
    "lateness_ms": ("lateness_ms", False),
}
DEFAULT_SORT = "-created_at"
HTTP_CLASSES = [("2xx", "2xx"), ("3xx", "3xx"), ("4xx", "4xx"), ("5xx", "5xx")]
MAX_BULK = 500


def _with_any(label: str, choices: Any) -> list[tuple[str, str]]:
    return [("", label), *list(choices)]


class RunFilterForm(CleanTextMixin, forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(required=False, choices=_with_any("Any", Run.Status.choices))
    end_reason = forms.ChoiceField(label="End reason", required=False, choices=_with_any("Any", Run.EndReason.choices))
    trigger = forms.ChoiceField(required=False, choices=_with_any("Any", Run.Trigger.choices))
    http = forms.ChoiceField(label="HTTP", required=False, choices=_with_any("Any", HTTP_CLASSES))
    date_from = forms.DateField(label="From (UTC)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To (UTC)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in SORTS], widget=forms.HiddenInput)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def run_filters(self) -> dict[str, str]:
        """The filters under RunFilter's names (history.selectors), for run_list."""
        data = self.cleaned_data
        filters = {
            "q": data.get("q") or "",
            "status": data.get("status") or "",
            "endReason": data.get("end_reason") or "",
            "triggeredBy": data.get("trigger") or "",
            "httpStatus": data.get("http") or "",
        }
        if data.get("date_from"):
            filters["createdAfter"] = datetime.combine(data["date_from"], time.min, UTC).isoformat()
        if data.get("date_to"):
            # "To" includes that whole day.
            filters["createdBefore"] = datetime.combine(data["date_to"] + timedelta(days=1), time.min, UTC).isoformat()
        return {name: value for name, value in filters.items() if value}

    @property
    def sort_key(self) -> str:
        return (self.cleaned_data.get("sort") if self.is_valid() else "") or DEFAULT_SORT

    def ordering(self) -> Ordering:
        field, descending = SORTS[self.sort_key]
        return Ordering(field, descending)

    @property
    def page_number(self) -> int:
        return (self.cleaned_data.get("page") if self.is_valid() else None) or 1

    @property
    def is_filtered(self) -> bool:
        return self.is_valid() and bool(self.run_filters())


class RunFeedFilterForm(RunFilterForm):
    """The run feed's filters: a job's history filters, plus which job (ID or UUID)."""

    job = forms.CharField(label="Job", required=False, max_length=100)

    field_order = ["job"]

    def run_filters(self) -> dict[str, str]:
        filters = super().run_filters()
        if self.cleaned_data.get("job"):
            filters["job"] = self.cleaned_data["job"]
        return filters


class BulkDeleteForm(CleanTextMixin, forms.Form):
    """The runs ticked in a job's table; `confirm` is set by the confirmation page's button."""

    confirm = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        raw = self.data.getlist("run") if hasattr(self.data, "getlist") else []
        try:
            data["runs"] = list(dict.fromkeys(uuid.UUID(value) for value in raw))
        except ValueError as exc:
            raise forms.ValidationError("That selection names a run that does not exist.") from exc
        if not data["runs"]:
            raise forms.ValidationError("Tick at least one run to delete.")
        if len(data["runs"]) > MAX_BULK:
            raise forms.ValidationError(f"Delete at most {MAX_BULK} runs at a time.")
        return data
