"""Informer's paging: `sort`, `start`, `limit` (1–1000, default 30), our `cursor`, and the HAL envelope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from rest_framework.request import Request

from core.params import DEFAULT_LIMIT, MAX_LIMIT, Gathered, hal_list, href, offset_links, query_int, query_sort
from history.api.serializers import run_item
from history.models import Run
from history.selectors import Cursor, Ordering, run_count, run_page

HISTORY_REL = "inf:job-history"
SORTS = {
    "createdAt": "created_at",
    "startedAt": "started_at",
    "duration": "duration_ms",
    "status": "status",
    "httpStatus": "http_status",
    "latenessMs": "lateness_ms",
}
DEFAULT_SORT = "-createdAt"


@dataclass(frozen=True)
class HistoryParams:
    ordering: Ordering
    start: int
    limit: int
    cursor: Cursor | None


def history_params(request: Request) -> HistoryParams:
    params, gather = request.query_params, Gathered()
    sort = gather(query_sort, params, SORTS, DEFAULT_SORT)
    limit = gather(query_int, params, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    start = gather(query_int, params, "start", default=0, low=0, high=2_000_000_000)
    token = params.get("cursor")
    cursor = gather(Cursor.decode, token) if token else None
    gather.check()
    return HistoryParams(Ordering(*sort), start, limit, cursor)


def history_envelope(request: Request, runs: QuerySet[Run], unsearched: QuerySet[Run] | None = None) -> dict[str, Any]:
    """The page of `runs` the request asks for, in Informer's envelope with `next`/`prev` links.

    `unsearched` is `runs` without its search, where counting can use it (run_list_unsearched).

    `next` carries a keyset cursor when the order allows it (createdAt), so following it never
    skips or repeats a row while new runs arrive; other orders fall back to `start`.
    """
    params = history_params(request)
    page = run_page(
        runs, ordering=params.ordering, limit=params.limit, start=params.start, cursor=params.cursor, as_rows=True
    )
    total, estimate = run_count(runs, request.query_params, unsearched=unsearched)
    if params.ordering.keyset:
        next_href = href(request, cursor=page.next_cursor, start=None) if page.next_cursor else None
        prev_href = href(request, cursor=page.prev_cursor, start=None) if page.prev_cursor else None
    else:
        next_href, prev_href = offset_links(request, start=page.start, limit=params.limit, has_next=page.has_next)
    items = [run_item(run) for run in page.runs]
    return hal_list(
        request,
        rel=HISTORY_REL,
        items=items,
        start=page.start,
        total=total,
        next_href=next_href,
        prev_href=prev_href,
        totalIsEstimate=estimate,
    )
