"""Dashboard pages for runs: a job's run table (with its live rows) and the run page."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.dashboard import JOB_OR_TEAM, Load, View, actor_of, dashboard_view, flags_for, is_htmx, page_context
from core.errors import Conflict
from history.chains import run_chain
from history.forms import BulkDeleteForm
from history.models import Run
from history.scope import RunScope
from history.selectors import Ordering, run_attempts, run_get, run_page
from history.services import run_cancel, run_delete, run_rerun, runs_delete
from history.tables import with_jobs
from jobs.access import Actor
from jobs.models import Job, Team
from jobs.redact import redact_request
from jobs.roles import JOB_EDIT, JOB_READ, JOB_RUN

# New rows fetched per poll; more than this in one 2 s tick shows on the next tick.
NEW_ROWS_LIMIT = 50
HTMX_STOP_POLLING = 286


def _run(actor: Actor, run_id: UUID) -> Run:
    """The run if its team is the caller's, else 404."""
    run = run_get(actor=actor, run_id=str(run_id))
    if run is None:
        raise Http404("No such run.")
    return run


# The run a /runs/<uuid:run_id>/… page is about; the view gets `run`.
RUN = Load("run_id", _run, "run")


def stops_polling_when_gone(view: View) -> View:
    """An htmx poll for a run that is gone (deleted meanwhile, or never the caller's) stops polling."""

    @functools.wraps(view)
    def polled(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except Http404:
            if not is_htmx(request):
                raise
            # htmx stops polling on 286 and swaps in the empty body: the row (or live part) goes away.
            # An outsider gets the same answer as for a deleted run, so nothing is revealed.
            return HttpResponse(status=HTMX_STOP_POLLING)

    return polled


@require_GET
@dashboard_view(permission=JOB_READ, load=JOB_OR_TEAM)
def job_runs_new(request: HttpRequest, team: Team, job: Job | None) -> HttpResponse:
    """Polled by a run table: runs created after `since` that match the table's filters."""
    actor, scope = actor_of(request), RunScope(team=team, job=job)
    since = parse_datetime(request.GET.get("since", ""))
    form = scope.form_class(request.GET)
    if since is None or since.tzinfo is None or not form.is_valid():
        return HttpResponse(status=400)
    filters = form.run_filters()
    # RunFilter's createdAfter is inclusive; one microsecond later excludes the newest row already shown.
    after = since + timedelta(microseconds=1)
    if "createdAfter" not in filters or cast(datetime, parse_datetime(filters["createdAfter"])) < after:
        filters["createdAfter"] = after.isoformat()
    try:
        queryset = scope.runs(actor, filters)
    except ValidationError:
        return HttpResponse(status=400)
    runs = run_page(queryset, ordering=Ordering("created_at"), limit=NEW_ROWS_LIMIT).runs
    if scope.is_feed:
        with_jobs(runs)
    newest = max((run.created_at for run in runs), default=since)
    context = {
        "job": scope.job,
        "runs": runs,
        "since": newest,
        "flags": flags_for(actor, scope.team.pk),
        "new": True,
        "feed": scope.is_feed,
        "poll_url": scope.new_url,
    }
    return render(request, "history/_runs_new.html", context)


@require_GET
@stops_polling_when_gone
@dashboard_view(permission=JOB_READ, load=RUN)
def run_row(request: HttpRequest, run: Run) -> HttpResponse:
    """One table row, polled every 2 s while the run is pending or running."""
    context = {"run": run, "flags": flags_for(actor_of(request), run.team_id), "feed": request.GET.get("feed") == "1"}
    return render(request, "history/_run_row.html", context)


def _detail_context(request: HttpRequest, run: Run) -> dict[str, Any]:
    job = run.job
    return page_context(
        request,
        run.team,
        run=run,
        job=job,
        steps=list(run.steps.all()),
        # The executor stores the request redacted; redacting again at display costs nothing and
        # also covers a secret header named on the job after the run was recorded.
        request_snapshot=redact_request(run.request or {}, job.secret_headers or []),
    )


@require_GET
@dashboard_view(permission=JOB_READ, load=RUN)
def run_detail(request: HttpRequest, run: Run) -> HttpResponse:
    context = _detail_context(request, run)
    context["attempts"] = run_attempts(run=run)
    context["chain"] = run_chain(run)
    return render(request, "history/run_detail.html", context)


@require_GET
@stops_polling_when_gone
@dashboard_view(permission=JOB_READ, load=RUN)
def run_live(request: HttpRequest, run: Run) -> HttpResponse:
    """The run page's live part (status, progress, steps, result), polled while the run is active."""
    return render(request, "history/_run_live.html", _detail_context(request, run))


# --- Actions: cancel and rerun (operator), delete (editor) -------------------------------------


@require_POST
@dashboard_view(permission=JOB_RUN, load=RUN)
def run_cancel_view(request: HttpRequest, run: Run) -> HttpResponse:
    try:
        run = run_cancel(run=run, by=request.user)
    except Conflict as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, "Stopped." if not run.is_active else "Asked the worker to stop the run.")
    return redirect("history:run-detail", run_id=run.pk)


@require_POST
@dashboard_view(permission=JOB_RUN, load=RUN)
def run_rerun_view(request: HttpRequest, run: Run) -> HttpResponse:
    new_run = run_rerun(run=run, by=request.user, triggered_by=Run.Trigger.DASHBOARD)
    messages.success(request, "Started a new run with the same variables.")
    return redirect("history:run-detail", run_id=new_run.pk)


@require_http_methods(["GET", "POST"])
@dashboard_view(permission=JOB_EDIT, load=RUN)
def run_delete_view(request: HttpRequest, run: Run) -> HttpResponse:
    """GET asks for confirmation; POST deletes. A pending or running run is refused (409)."""
    context = page_context(request, run.team, run=run, job=run.job)
    if request.method == "GET" or run.is_active:
        return render(request, "history/run_confirm_delete.html", context, status=409 if run.is_active else 200)
    try:
        run_delete(run=run, by=request.user)
    except Conflict as exc:  # it started between the check and the delete
        context["error"] = exc.message
        return render(request, "history/run_confirm_delete.html", context, status=409)
    messages.success(request, "Deleted the run.")
    return redirect("jobs:detail", job_id=run.job_id)


@require_POST
@dashboard_view(permission=JOB_EDIT, load=JOB_OR_TEAM)
def runs_delete_view(request: HttpRequest, team: Team, job: Job | None) -> HttpResponse:
    """Bulk delete of the runs ticked in a table: the first POST shows what will go, the confirmed one deletes."""
    actor, scope = actor_of(request), RunScope(team=team, job=job)
    form = BulkDeleteForm(request.POST)
    if not form.is_valid():
        messages.warning(request, " ".join(cast("list[str]", form.non_field_errors())))
        return redirect(scope.page_url)
    selected = scope.runs(actor).filter(pk__in=form.cleaned_data["runs"])
    if not form.cleaned_data["confirm"]:
        runs = list(selected.order_by("-created_at"))
        deletable = [r for r in runs if not r.is_active]
        context = page_context(
            request, scope.team, job=scope.job, runs=runs, deletable=deletable, back_url=scope.page_url
        )
        return render(request, "history/runs_confirm_delete.html", context)
    deleted = runs_delete(queryset=selected, by=request.user)
    kept = len(form.cleaned_data["runs"]) - deleted
    note = f" {kept} still running or already gone were kept." if kept else ""
    messages.success(request, f"Deleted {deleted} run{'s' if deleted != 1 else ''}.{note}")
    return redirect(scope.page_url)
