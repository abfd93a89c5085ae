"""/runs/: every run of the current team's jobs, newest first, with a job's history filters and actions."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.dashboard import actor_of, dashboard_view, page_context
from history.scope import RunScope
from history.tables import run_table
from jobs.models import Team
from jobs.roles import JOB_READ


@require_GET
@dashboard_view(permission=JOB_READ)
def runs_feed(request: HttpRequest, team: Team) -> HttpResponse:
    actor, scope = actor_of(request), RunScope(team=team)
    table = run_table(request, actor, scope)
    context = page_context(request, scope.team, table=table, job=None, feed=True)
    return render(request, "history/runs_feed.html", context, status=400 if table.form.errors else 200)
