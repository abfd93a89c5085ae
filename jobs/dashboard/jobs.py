"""Jobs list and job page, and the job-level actions (run now, pause, resume, delete)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alerts.dashboard.views import job_alerts
from core.dashboard import JOB, actor_of, current_team, dashboard_view, is_htmx, page_context, paginate, teams_of
from history.models import Run
from history.selectors import anomaly_in_force, jobs_with_last_run, run_recent_by_job, run_stats, run_success_rates
from history.services import run_trigger
from history.tables import run_table
from jobs import schedules
from jobs.calendar_services import attached_for_job, calendars_prefetch
from jobs.calendars import mark_slots
from jobs.chains import TRIGGERS_PREFETCH
from jobs.dashboard.charts import Chart, duration_chart, sparkline
from jobs.forms import JobListFilter
from jobs.models import Job
from jobs.roles import JOB_EDIT, JOB_READ, JOB_RUN
from jobs.selectors import job_list as job_list_of
from jobs.services import job_delete, job_set_enabled

SUCCESS_WINDOW = timedelta(days=7)
SPARK_RUNS = 20
CHART_RUNS = 100


@dataclass(frozen=True)
class JobRow:
    job: Job
    last_run: Run | None
    spark: Chart
    success_rate: float | None


def _row(job: Job, runs: list[Run], success_rate: float | None) -> JobRow:
    return JobRow(job, runs[-1] if runs else None, sparkline(runs, SPARK_RUNS), success_rate)


@require_GET
@dashboard_view
def job_list(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    teams = teams_of(actor, request)
    team = current_team(request, teams)
    if team is None:
        return render(request, "jobs/no_team.html", page_context(request, None, teams=teams))
    jobs = job_list_of(actor=actor).filter(team=team).prefetch_related(calendars_prefetch(), TRIGGERS_PREFETCH)
    filterset = JobListFilter(request.GET or None, queryset=jobs_with_last_run(jobs))
    page = paginate(filterset.qs, request)
    job_ids = [job.pk for job in page]
    recent = run_recent_by_job(job_ids=job_ids, per_job=SPARK_RUNS)
    rates = run_success_rates(job_ids=job_ids, since=timezone.now() - SUCCESS_WINDOW)
    rows = [_row(job, recent[job.pk], rates[job.pk]) for job in page]
    filtered = bool(request.GET.get("q") or request.GET.get("state"))
    context = page_context(request, team, teams=teams, page=page, rows=rows, filterset=filterset, filtered=filtered)
    return render(request, "jobs/job_list.html", context)


@require_GET
@dashboard_view(permission=JOB_READ, load=JOB)
def job_detail(request: HttpRequest, job: Job) -> HttpResponse:
    actor = actor_of(request)
    prefetch_related_objects([job], calendars_prefetch())  # the description, the slots and the details read them
    now = timezone.now()
    recent = run_recent_by_job(job_ids=[job.pk], per_job=CHART_RUNS)[job.pk]
    context = page_context(
        request,
        job.team,
        job=job,
        steps=list(job.steps.all()),
        fire_times=mark_slots(attached_for_job(job), schedules.preview(job.schedule, now, 5), job.timezone)
        if job.enabled
        else [],
        stats=run_stats(job=job, since=now - SUCCESS_WINDOW),
        chart=duration_chart(recent, CHART_RUNS),
        chart_count=len(recent),
        table=run_table(request, actor, job),
        anomaly=anomaly_in_force(job=job),
    )
    context.update(job_alerts(job, context["flags"]))
    return render(request, "jobs/job_detail.html", context)


@require_POST
@dashboard_view(permission=JOB_RUN, load=JOB)
def job_run_now(request: HttpRequest, job: Job) -> HttpResponse:
    run = run_trigger(job=job, by=request.user, triggered_by=Run.Trigger.DASHBOARD)
    if is_htmx(request):
        # The run table's poller listens for this event and fetches the new row at once.
        response = render(request, "jobs/_run_started.html", {"run": run})
        response["HX-Trigger"] = "runs-changed"
        return response
    messages.success(request, "Started a run; it is at the top of the table.")
    return redirect("jobs:detail", job_id=job.pk)


@require_POST
@dashboard_view(permission=JOB_EDIT, load=JOB)
def job_set_enabled_view(request: HttpRequest, job: Job, enabled: bool) -> HttpResponse:
    """Pause (enabled=False) or resume a job; the URL conf says which."""
    if enabled and job.once_done:
        messages.warning(request, f"{job.name} has had its one run; edit its time to run it again.")
        return redirect("jobs:detail", job_id=job.pk)
    job_set_enabled(job=job, enabled=enabled)
    done = f"Resumed {job.name}." if enabled else f"Paused {job.name}: it will not fire until resumed."
    messages.success(request, done)
    return redirect("jobs:detail", job_id=job.pk)


@require_http_methods(["GET", "POST"])
@dashboard_view(permission=JOB_EDIT, load=JOB)
def job_delete_view(request: HttpRequest, job: Job) -> HttpResponse:
    """GET asks for confirmation; POST (CSRF-protected) deletes the job and its history."""
    if request.method == "POST":
        name = job.name
        job_delete(job=job, by=request.user)
        messages.success(request, f"Deleted the job {name} and its run history.")
        return redirect("jobs:list")
    return render(request, "jobs/job_confirm_delete.html", page_context(request, job.team, job=job))
