"""Runs as plain rows for the API and its dialects: values(), no model instance per run.

A row is a dict of the run's columns by attribute name (`id`, `job_id`, `status`, …), any
annotation of the queryset (e.g. `slot_completions`), `team_slug`, `user_name` (who triggered
it, or None) and `steps`: the run's step rows, ordered by position and name, fetched for the
whole page in one more query. Renderers (history.api.serializers, history.dialects) take rows;
`row_of` turns a model instance loaded with with_details() into the same row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet

from history.models import Run, RunStep

RUN_FIELDS = tuple(field.attname for field in Run._meta.concrete_fields)
STEP_FIELDS = tuple(field.attname for field in RunStep._meta.concrete_fields if field.attname != "id")


def _user_field() -> str:
    return f"triggered_by_user__{get_user_model().USERNAME_FIELD}"


def _values(queryset: QuerySet[Run]) -> QuerySet:
    annotations = [name for name in queryset.query.annotations if name not in RUN_FIELDS]
    return queryset.values(*RUN_FIELDS, *annotations, team_slug=F("team__slug"), user_name=F(_user_field()))


def attach_steps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's `steps`, for all the rows in one query.

    Not a JSON subquery in the page's own SELECT: the database computes that for every row an
    OFFSET skips too (/api/history?start=100000 took 2 s that way, bench b3), and a second query
    keeps the count of queries the same at every depth.
    """
    by_run: dict[Any, dict[str, Any]] = {}
    for row in rows:
        row["steps"] = []
        by_run[row["id"]] = row
    if by_run:
        steps = RunStep.objects.filter(run_id__in=list(by_run)).order_by("position", "name").values(*STEP_FIELDS)
        for step in steps:
            by_run[step.pop("run_id")]["steps"].append(step)
    return rows


def run_rows(queryset: QuerySet[Run], *, steps: bool = True) -> list[dict[str, Any]]:
    """The rows of `queryset`, and with `steps` their steps in one more query."""
    rows = list(_values(queryset))
    return attach_steps(rows) if steps else rows


def run_rows_iter(queryset: QuerySet[Run], *, steps: bool = True, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Every row, streamed (a server-side cursor on PostgreSQL), steps fetched per chunk: memory stays flat."""
    chunk: list[dict[str, Any]] = []
    for row in _values(queryset).iterator(chunk_size=chunk_size):
        chunk.append(row)
        if len(chunk) == chunk_size:
            yield from attach_steps(chunk) if steps else chunk
            chunk = []
    yield from attach_steps(chunk) if steps else chunk


def row_of(run: Run) -> dict[str, Any]:
    """The row of a run loaded with with_details() (team, user and steps at hand)."""
    row = {name: getattr(run, name) for name in RUN_FIELDS}
    for name in run.__dict__.keys() & {"slot_completions"}:
        row[name] = run.__dict__[name]
    user = run.triggered_by_user
    row.update(
        team_slug=run.team.slug,
        user_name=user.get_username() if user is not None else None,
        steps=[{name: getattr(step, name) for name in STEP_FIELDS if name != "run_id"} for step in run.steps.all()],
    )
    return row


def succeeded(row: dict[str, Any]) -> bool:
    return row["status"] == Run.Status.ENDED and row["end_reason"] == Run.EndReason.SUCCESS


def active(row: dict[str, Any]) -> bool:
    return row["status"] in (Run.Status.PENDING, Run.Status.RUNNING)
