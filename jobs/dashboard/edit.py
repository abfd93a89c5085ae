"""Create and edit a job, and the live schedule preview the form asks for while you type."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from core.dashboard import JOB, actor_of, dashboard_view, page_context
from jobs import schedules
from jobs.calendar_models import Calendar
from jobs.calendar_services import attached_by_names, calendar_summary
from jobs.calendars import Attached, mark_slots
from jobs.forms import (
    AfterWidget,
    BaseStepFormSet,
    CalendarsField,
    JobForm,
    ScheduleForm,
    apply_errors,
    picked_calendars,
    step_formset,
)
from jobs.models import Job, Team
from jobs.roles import JOB_EDIT
from jobs.write import job_validate, job_write

PREVIEW_COUNT = 5


def _submit(form: JobForm, formset: BaseStepFormSet, *, team: Team, job: Job | None, by: Any) -> Job | None:
    """Check everything and show every error at once, then save; None if anything is wrong.

    What did not parse is marked by the forms; the service checks the rest (jobs.write) and its
    errors join them, so one submit shows them all.
    """
    parsed = form.is_valid() & formset.is_valid()  # `&`: both parse, so both mark their fields
    fields, steps = form.fields_for_service(), formset.steps()
    try:
        if parsed:
            return job_write(team=team, job=job, fields=fields, steps=steps, by=by)
        job_validate(team=team, job=job, fields=fields, steps=steps)
    except ValidationError as exc:
        apply_errors(exc, form, formset)
    return None


def _tell_dropped(request: HttpRequest, job: Job) -> None:
    for dropped in getattr(job, "dropped_secrets", []):
        messages.warning(request, f"Dropped the stored value of the secret header {dropped}")


def calendar_rows(team: Team, form: JobForm) -> list[dict[str, str]]:
    """The job form's calendar picker: each of the team's calendars, what it holds, and the mode picked."""
    picked = picked_calendars(form["calendars"].value())
    return [
        {"name": calendar.name, "summary": calendar_summary(calendar), "mode": picked.get(calendar.name, "")}
        for calendar in Calendar.objects.filter(team=team).order_by("name")
    ]


def _form_page(request: HttpRequest, template_context: dict[str, Any]) -> HttpResponse:
    status = 400 if request.method == "POST" else 200  # a re-shown form with errors is not a success
    context = {**template_context, "timezones": schedules.common_timezones()}
    context["calendar_rows"] = calendar_rows(context["team"], context["form"])
    return render(request, "jobs/job_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@dashboard_view(permission=JOB_EDIT)
def job_create_view(request: HttpRequest, team: Team) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    form, formset = JobForm(data), step_formset(data)
    form.offer_jobs(team.pk, None)
    if data is not None and (job := _submit(form, formset, team=team, job=None, by=request.user)) is not None:
        messages.success(request, f"Created {job.name}. Its next run is shown below.")
        _tell_dropped(request, job)
        return redirect("jobs:detail", job_id=job.pk)
    return _form_page(request, page_context(request, team, form=form, formset=formset, job=None))


@require_http_methods(["GET", "POST"])
@dashboard_view(permission=JOB_EDIT, load=JOB)
def job_edit_view(request: HttpRequest, job: Job) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    form = JobForm(data, initial=JobForm.initial_for(job))
    form.offer_jobs(job.team_id, job)
    formset = step_formset(data, job=job)
    if data is not None and _submit(form, formset, team=job.team, job=job, by=request.user) is not None:
        messages.success(request, f"Saved {job.name}.")
        _tell_dropped(request, job)
        return redirect("jobs:detail", job_id=job.pk)
    return _form_page(request, page_context(request, job.team, form=form, formset=formset, job=job))


def _preview_team(request: HttpRequest) -> int | None:
    """The team of the job being typed, if the user is in it."""
    team = request.GET.get("team", "")
    if not team.isdigit() or int(team) not in actor_of(request).team_ids:
        return None
    return int(team)


def _spread_seed(request: HttpRequest) -> str:
    """What an `H` is hashed from for the job being typed: its team (one the user is in) and its ID."""
    team = _preview_team(request)
    return "" if team is None else schedules.spread_seed(team, request.GET.get("natural_id", ""))


def _preview_calendars(request: HttpRequest) -> list[Attached]:
    """The calendars picked in the form, as typed so far (unknown names and bad values left out)."""
    team = _preview_team(request)
    if team is None:
        return []
    try:
        specs = CalendarsField(required=False).clean(request.GET.getlist("calendars"))
    except ValidationError:
        return []
    return attached_by_names(team, specs)


def _nothing_typed(data: Any) -> bool:
    """A schedule not started yet gets a hint, not an error."""
    needed = {"cron": "cron_expression", "interval": "interval_seconds", "once": "run_at"}  # "none" needs nothing
    field = needed.get(data.get("schedule_kind", ""))
    return field is not None and not data.get(field, "").strip()


def _chain_text(request: HttpRequest) -> str:
    """The `after` rows typed so far, in words ("after import succeeds")."""
    after = AfterWidget().value_from_datadict(request.GET, {}, "after")
    within = request.GET.get("after_within_seconds", "")
    return schedules.describe_after(
        after, bool(request.GET.get("after_all")), int(within) if within.isdigit() else None
    )


@require_GET
@dashboard_view
def schedule_preview(request: HttpRequest) -> HttpResponse:
    """The next fire times and the schedule in words, for what is typed so far (htmx, as you type)."""
    form = ScheduleForm(request.GET)
    context: dict[str, Any] = {"errors": [], "times": [], "text": ""}
    if _nothing_typed(request.GET):
        context["hint"] = True
    elif not form.is_valid():
        context["errors"] = [message for errors in form.errors.values() for message in errors]
    else:
        try:
            schedule = dataclasses.replace(form.schedule(), seed=_spread_seed(request))
        except ValidationError as exc:
            context["errors"] = exc.messages
        else:
            attached = _preview_calendars(request)
            context["text"] = schedules.describe(schedule)
            if attached:
                names = ", ".join(f"{item.mode} {item.rules.name}" for item in attached)
                context["text"] += f"; calendars: {names}"
            times = schedules.preview(schedule, timezone.now(), PREVIEW_COUNT)
            context["times"] = mark_slots(attached, times, schedule.timezone)
            context["zone"] = schedule.timezone
            context["chain"] = _chain_text(request)
    return render(request, "jobs/_schedule_preview.html", context)
