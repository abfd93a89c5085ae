"""The run table's read model: a job's history or the team's run feed, filtered, sorted and paged from the query string.

Both apps' dashboard pages render it (templates/history/_run_table.html): the job page and the run feed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone

from history.forms import DEFAULT_SORT, PER_PAGE, RunFilterForm
from history.models import Run
from history.scope import RunScope
from history.selectors import run_count, run_page
from jobs.access import Actor
from jobs.models import Job


@dataclass
class RunTable:
    form: RunFilterForm
    scope: RunScope
    runs: list[Run] = field(default_factory=list)
    total: int = 0
    estimate: bool = False
    page_number: int = 1
    num_pages: int = 1
    has_next: bool = False
    has_prev: bool = False
    error: str = ""
    # Only the first page of newest-first shows new runs as they appear.
    live: bool = False
    since: datetime | None = None


def with_jobs(runs: list[Run]) -> list[Run]:
    """The feed names each run's job: one query for the page's jobs, not one per row."""
    jobs = Job.objects.in_bulk({run.job_id for run in runs})
    for run in runs:
        if run.job_id in jobs:  # else deleted meanwhile: the row links to a 404, as a stale page would
            run.job = jobs[run.job_id]
    return runs


def run_table(request: HttpRequest, actor: Actor, scope: Job | RunScope) -> RunTable:
    """A run table (a job's history, or the team's run feed): filters, sort and page from the query string."""
    if isinstance(scope, Job):
        scope = RunScope(team=scope.team, job=scope)
    form = scope.form_class(request.GET)
    table = RunTable(form=form, scope=scope)
    if not form.is_valid():
        table.error = "Some filters are not valid; fix them to see the runs."
        return table
    try:
        filters = form.run_filters()
        queryset = scope.runs(actor, filters)
        table.page_number = form.page_number
        page = run_page(queryset, ordering=form.ordering(), limit=PER_PAGE, start=(table.page_number - 1) * PER_PAGE)
        table.total, table.estimate = run_count(queryset, filters, unsearched=scope.runs_unsearched(actor, filters))
    except ValidationError as exc:
        table.error = "; ".join(exc.messages)
        return table
    table.runs, table.has_next, table.has_prev = page.runs, page.has_next, page.has_prev
    if scope.is_feed:
        with_jobs(table.runs)
    table.num_pages = max(math.ceil(table.total / PER_PAGE), table.page_number if table.estimate else 1)
    table.live = form.sort_key == DEFAULT_SORT and table.page_number == 1
    table.since = max((run.created_at for run in page.runs), default=timezone.now())
    return table
