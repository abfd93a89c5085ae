"""The team's calendars page: list them (job:read), create and delete them (job:edit)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.dashboard import Load, dashboard_view, page_context
from core.errors import Conflict
from jobs.calendar_models import Calendar
from jobs.calendar_services import calendar_delete, calendar_summary, calendar_write
from jobs.calendars import parse_window_text
from jobs.models import Team
from jobs.roles import JOB_EDIT, JOB_READ
from jobs.text import CleanTextMixin

_PATH_HEAD = re.compile(r"^(\w+)(?:\[(\d+)\])?")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class CalendarForm(CleanTextMixin, forms.Form):
    name = forms.CharField(max_length=100, help_text="Letters, digits, '.', '_' and '-'; jobs refer to it by name.")
    description = forms.CharField(required=False, max_length=2000)
    holidays = forms.CharField(
        label="Public holidays",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "US-NY"}),
        help_text="One country per line, with a subdivision if you like: US, US-NY, DE-BY.",
    )
    dates = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "2026-12-24\n2026-12-27/2026-12-31"}),
        help_text="One date (YYYY-MM-DD) or range (YYYY-MM-DD/YYYY-MM-DD) per line, read on the job's clock.",
    )
    windows = forms.CharField(
        label="Weekly windows",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Sun 02:00-04:00 Europe/Berlin"}),
        help_text="One per line: days, start-end, and a timezone (the job's when left out), e.g. Mon-Fri 09:00-17:00.",
    )

    def clean_holidays(self) -> list[dict[str, str]]:
        picked = []
        for line in _lines(self.cleaned_data.get("holidays", "")):
            parts = re.split(r"[-\s]+", line, maxsplit=1)
            country, subdivision = parts[0].upper(), parts[1] if len(parts) > 1 else ""
            picked.append({"country": country, "subdivision": subdivision})
        return picked

    def clean_dates(self) -> list[str]:
        return _lines(self.cleaned_data.get("dates", ""))

    def clean_windows(self) -> list[dict[str, Any]]:
        windows = []
        for line in _lines(self.cleaned_data.get("windows", "")):
            try:
                windows.append(parse_window_text(line))
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
        return windows


def _apply_errors(exc: ValidationError, form: CalendarForm) -> None:
    """The service's paths (holidays[0].country, windows[1].start) onto the form's fields, naming the line."""
    marked = set(form.errors)  # a field the form could not parse keeps its own message
    for path, errors in exc.message_dict.items():
        match = _PATH_HEAD.match(path or "")
        field = match.group(1) if match and match.group(1) in form.fields else None
        line = f"Line {int(match.group(2)) + 1}: " if match and match.group(2) is not None and field else ""
        if field in marked:
            continue
        for message in errors:
            form.add_error(field, line + message)


@require_http_methods(["GET", "POST"])
@dashboard_view(permission={"GET": JOB_READ, "POST": JOB_EDIT})
def calendar_list_view(request: HttpRequest, team: Team) -> HttpResponse:
    """The current team's calendars; POST (job:edit) creates one, or shows the form again with its errors."""
    form = CalendarForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in form.fields}
            try:
                calendar = calendar_write(team=team, fields=fields, by=request.user)
            except ValidationError as exc:
                _apply_errors(exc, form)
            else:
                messages.success(request, f"Created the calendar {calendar.name}; attach it on a job's form.")
                return redirect("jobs:calendars")
        status = 400
    calendars = Calendar.objects.filter(team=team).prefetch_related("job_links__job").order_by("name")
    rows = [
        {
            "calendar": c,
            "summary": calendar_summary(c),
            "jobs": sorted({link.job.natural_id for link in c.job_links.all()}),
        }
        for c in calendars
    ]
    context = page_context(request, team, rows=rows, form=form)
    return render(request, "jobs/calendars.html", context, status=status)


@require_http_methods(["GET", "POST"])
@dashboard_view(
    permission=JOB_EDIT, load=Load.among(Calendar.objects.select_related("team"), "calendar_id", "calendar")
)
def calendar_delete_view(request: HttpRequest, calendar: Calendar) -> HttpResponse:
    """GET asks for confirmation; POST deletes the calendar, unless jobs still use it."""
    if request.method == "POST":
        try:
            calendar_delete(calendar=calendar, by=request.user)
        except Conflict as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Deleted the calendar {calendar.name}.")
        return redirect("jobs:calendars")
    context = page_context(request, calendar.team, calendar=calendar, summary=calendar_summary(calendar))
    return render(request, "jobs/calendar_confirm_delete.html", context)
