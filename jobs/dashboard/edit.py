"""Create and edit a job, and the live schedule preview the form asks for while you type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from jobs import schedules
from jobs.access import job_for_actor, require
from jobs.dashboard.base import actor_of, current_team, dashboard_view, page_context, teams_of
from jobs.forms import BaseStepFormSet, JobForm, ScheduleForm, apply_errors, step_formset
from jobs.models import Job
from jobs.roles import JOB_EDIT
from jobs.services import job_create, job_update, steps_from_input

PREVIEW_COUNT = 5

Write = Callable[[JobForm, schedules.Schedule, list[dict[str, Any]]], Job]


def _submit(form: JobForm, formset: BaseStepFormSet, write: Write) -> Job | None:
    """Validate everything (showing every error at once), then write; None if anything is wrong."""
    if not (form.is_valid() & formset.is_valid()):  # `&`: both validate, so both show their errors
        return None
    schedule = steps = None
    try:
        schedule = form.schedule()
    except ValidationError as exc:
        apply_errors(exc, form, formset)
    try:
        steps = steps_from_input(steps=formset.steps())
    except ValidationError as exc:
        apply_errors(exc, form, formset)
    if schedule is None or steps is None:
        return None
    try:
        return write(form, schedule, steps)
    except ValidationError as exc:
        apply_errors(exc, form, formset)
        return None


def _form_page(request: HttpRequest, template_context: dict[str, Any]) -> HttpResponse:
    status = 400 if request.method == "POST" else 200  # a re-shown form with errors is not a success
    context = {**template_context, "timezones": schedules.common_timezones()}
    return render(request, "jobs/job_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@dashboard_view
def job_create_view(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    teams = teams_of(actor)
    team = current_team(request, teams)
    if team is None:
        raise Http404("You are not in a team yet.")
    require(actor, team.pk, JOB_EDIT)
    data = request.POST if request.method == "POST" else None
    form, formset = JobForm(data), step_formset(data)

    def write(form: JobForm, schedule: schedules.Schedule, steps: list[dict[str, Any]]) -> Job:
        natural_id = form.cleaned_data["natural_id"]
        return job_create(
            team=team, natural_id=natural_id, schedule=schedule, steps=steps, created_by=request.user, **form.options()
        )

    if data is not None and (job := _submit(form, formset, write)) is not None:
        messages.success(request, f"Created {job.name}. Its next run is shown below.")
        return redirect("jobs:detail", job_id=job.pk)
    return _form_page(request, page_context(request, team, teams=teams, form=form, formset=formset, job=None))


@require_http_methods(["GET", "POST"])
@dashboard_view
def job_edit_view(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = job_for_actor(actor_of(request), str(job_id), JOB_EDIT)
    data = request.POST if request.method == "POST" else None
    form = JobForm(data, initial=JobForm.initial_for(job))
    formset = step_formset(data, job=job)

    def write(form: JobForm, schedule: schedules.Schedule, steps: list[dict[str, Any]]) -> Job:
        return job_update(
            job=job, schedule=schedule, steps=steps, natural_id=form.cleaned_data["natural_id"], **form.options()
        )

    if data is not None and _submit(form, formset, write) is not None:
        messages.success(request, f"Saved {job.name}.")
        return redirect("jobs:detail", job_id=job.pk)
    return _form_page(request, page_context(request, job.team, form=form, formset=formset, job=job))


def _nothing_typed(data: Any) -> bool:
    """A schedule not started yet gets a hint, not an error."""
    needed = {"cron": "cron_expression", "interval": "interval_seconds", "once": "run_at"}
    field = needed.get(data.get("schedule_kind", ""))
    return field is not None and not data.get(field, "").strip()


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
            schedule = form.schedule()
        except ValidationError as exc:
            context["errors"] = exc.messages
        else:
            context["text"] = schedules.describe(schedule)
            context["times"] = schedules.preview(schedule, timezone.now(), PREVIEW_COUNT)
            context["zone"] = schedule.timezone
    return render(request, "jobs/_schedule_preview.html", context)
