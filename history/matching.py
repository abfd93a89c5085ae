"""What a run table's current filter matches, all of it, not only the page on screen: export and delete.

Both take the table's query string (a job's history or the team's run feed, history.scope) and the
same filter form, so "what you filtered" is what is exported or deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods

from core.dashboard import JOB_OR_TEAM, actor_of, dashboard_view, page_context
from history.api.export import RENDERERS, export_response
from history.forms import RunFilterForm
from history.models import Run
from history.scope import RunScope
from history.services import runs_delete
from jobs.models import Job, Team
from jobs.roles import JOB_EDIT, JOB_READ

# Table inputs that are not filters: they change what is on screen, not what matches.
_NOT_FILTERS = ("page", "sort")


@require_GET
@dashboard_view(permission=JOB_READ, load=JOB_OR_TEAM)
def runs_export_view(request: HttpRequest, team: Team, job: Job | None) -> HttpResponse | StreamingHttpResponse:
    """The table's filter, every matching run, as CSV (?format=csv) or NDJSON (?format=ndjson), in the table's order."""
    actor, scope = actor_of(request), RunScope(team=team, job=job)
    fmt = request.GET.get("format") or "csv"
    form = scope.form_class(request.GET)
    if fmt not in RENDERERS or not form.is_valid():
        return HttpResponse(
            "Use format=csv or format=ndjson, with valid filters.", status=400, content_type="text/plain"
        )
    try:
        runs = scope.runs(actor, form.run_filters())
    except ValidationError as exc:
        return HttpResponse("; ".join(exc.messages), status=400, content_type="text/plain")
    name = f"{scope.job.natural_id}-history" if scope.job else f"{scope.team.slug}-runs"
    return export_response(runs, ordering=form.ordering(), fmt=fmt, name=name)


def _matching(actor: Any, scope: RunScope, form: RunFilterForm, until: datetime) -> tuple[Any, Any]:
    """(every run the filter matched at `until`, the ones of them that had ended then): what the count showed.

    A run that starts after the count, or was still pending or running then and ended since, is not taken.
    """
    filters = form.run_filters()
    before = parse_datetime(filters.get("createdBefore", "")) if filters.get("createdBefore") else None
    filters["createdBefore"] = min(before, until).isoformat() if before else until.isoformat()
    matching = scope.runs(actor, filters)
    return matching, matching.filter(status=Run.Status.ENDED).exclude(finished_at__gt=until)


@require_http_methods(["GET", "POST"])
@dashboard_view(permission=JOB_EDIT, load=JOB_OR_TEAM)
def runs_delete_matching_view(request: HttpRequest, team: Team, job: Job | None) -> HttpResponse:
    """GET counts what the filter matches and asks; the confirming POST deletes every ended one of them."""
    actor, scope = actor_of(request), RunScope(team=team, job=job)
    data = request.GET if request.method == "GET" else request.POST
    form = scope.form_class(data)
    until = timezone.now() if request.method == "GET" else parse_datetime(request.POST.get("until", ""))
    if not form.is_valid() or until is None or until.tzinfo is None:
        messages.warning(request, "Those filters are not valid; nothing was deleted.")
        return redirect(scope.page_url)
    try:
        matching, deletable = _matching(actor, scope, form, until)
    except ValidationError as exc:
        messages.warning(request, "; ".join(exc.messages))
        return redirect(scope.page_url)
    if request.method == "GET":
        count = deletable.count()
        context = page_context(
            request,
            scope.team,
            job=scope.job,
            scope=scope,
            deletable=count,
            active=matching.count() - count,
            filters=[
                (form[name].label, value)
                for name, value in form.cleaned_data.items()
                if value and name not in _NOT_FILTERS
            ],
            hidden=_filter_inputs(form, data),
            until=until.isoformat(),
        )
        return render(request, "history/runs_confirm_delete_matching.html", context)
    deleted = runs_delete(queryset=deletable, by=request.user)
    kept = matching.count()  # what the filter still matches: the runs that were pending or running
    note = f" Kept {kept} that {'was' if kept == 1 else 'were'} still pending or running when counted." if kept else ""
    messages.success(request, f"Deleted {deleted} run{'s' if deleted != 1 else ''} matching the filter.{note}")
    return redirect(f"{scope.page_url}?{urlencode(_filter_inputs(form, data))}")


def _filter_inputs(form: RunFilterForm, data: Any) -> list[tuple[str, str]]:
    return [(name, data[name]) for name in form.fields if name not in _NOT_FILTERS and data.get(name)]
