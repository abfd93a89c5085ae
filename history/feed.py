"""/runs/: every run of the current team's jobs, newest first, with a job's history filters and actions."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.dashboard import dashboard_view, page_context
from history.scope import scope_for
from history.tables import run_table
from jobs.roles import JOB_READ


@require_GET
@dashboard_view
def runs_feed(request: HttpRequest) -> HttpResponse:
    actor, scope = scope_for(request, None, JOB_READ)
    table = run_table(request, actor, scope)
    context = page_context(request, scope.team, table=table, job=None, feed=True)
    return render(request, "history/runs_feed.html", context, status=400 if table.form.errors else 200)
