"""The audit log page's filters: the same names as GET /api/audit's, with date-time pickers for Since and Until."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.utils.dateparse import parse_datetime

from history.selectors import UtcDateTimeField
from jobs.models import AuditEntry

LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"


class DateTimeLocalInput(forms.DateTimeInput):
    """`<input type="datetime-local">`, whose value carries no zone: the time is shown in UTC, to the second.

    A value typed or linked with an offset (`…Z`, `…+02:00`) is shown as its UTC wall time, which the
    picker can display; one it cannot parse is shown as it came, for the error beside it.
    """

    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(attrs={"step": "1"}, format=LOCAL_FORMAT)

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, str):
            parsed = parse_datetime(value.strip().replace(" ", "T", 1))
            if parsed is None:
                return value
            value = parsed
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return value.strftime(LOCAL_FORMAT)
        return super().format_value(value)


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False, choices=[("", "any"), *((a, a) for a in AuditEntry.Action.values)])
    actor = forms.CharField(
        required=False, max_length=200, widget=forms.TextInput(attrs={"placeholder": "username or key:prefix"})
    )
    since = UtcDateTimeField(label="Since (UTC)", required=False, widget=DateTimeLocalInput())
    until = UtcDateTimeField(label="Until (UTC)", required=False, widget=DateTimeLocalInput())

    def audit_filters(self) -> dict[str, str]:
        """The valid filters under jobs.api.audit's names, times as ISO 8601 in UTC."""
        data = self.cleaned_data
        filters = {"action": data.get("action") or "", "actor": data.get("actor") or ""}
        for name in ("since", "until"):
            if data.get(name) is not None:
                filters[name] = data[name].isoformat()
        return {name: value for name, value in filters.items() if value}
