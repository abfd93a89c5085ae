"""GET /api/jobs/{id}/history/export?format=csv|ndjson: streamed, so memory stays flat for any size."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from config.problems import problem_responses
from core.api import TeamScopedView
from core.docs import JOB_ID
from core.params import query_sort
from history.api import docs
from history.api.paging import DEFAULT_SORT, SORTS
from history.api.serializers import HISTORY_ITEM, run_item
from history.models import Run
from history.selectors import Ordering, run_export_iter, run_list
from jobs.access import actor_from_request
from jobs.roles import JOB_READ

# The CSV columns: the item's flat fields in the item's order (HISTORY_ITEM), with `duration` as its two
# times; the nested ones are the NDJSON form's.
_NESTED = frozenset({"data", "progress", "warning", "variables", "request"})
CSV_FIELDS = tuple(
    name
    for field in HISTORY_ITEM.fields
    if field.name not in _NESTED
    for name in (("startedAt", "finishedAt") if field.name == "duration" else (field.name,))
)
# Rows per write: one yield per row would make the response a few hundred thousand tiny chunks.
ROWS_PER_CHUNK = 500
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CSVRenderer(JSONRenderer):
    """Selected by ?format=csv. Streams bypass it; it renders only error bodies, as JSON."""

    media_type = "text/csv"
    format = "csv"


class NDJSONRenderer(JSONRenderer):
    media_type = "application/x-ndjson"
    format = "ndjson"


RENDERERS: dict[str, type[JSONRenderer]] = {"csv": CSVRenderer, "ndjson": NDJSONRenderer}


def _cell(value: Any) -> Any:
    if isinstance(value, bool):  # as in the JSON and NDJSON forms, not Python's True/False
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_chunks(runs: Iterable[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for index, run in enumerate(runs, start=1):
        item = run_item(run)  # a row without steps: no progress
        item["startedAt"], item["finishedAt"] = item["duration"]
        writer.writerow([_cell(item[field]) for field in CSV_FIELDS])
        if index % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def ndjson_chunks(runs: Iterable[dict[str, Any]]) -> Iterator[str]:
    lines: list[str] = []
    for run in runs:
        lines.append(json.dumps(run_item(run), separators=(",", ":")))
        if len(lines) == ROWS_PER_CHUNK:
            yield "\n".join(lines) + "\n"
            lines.clear()
    if lines:
        yield "\n".join(lines) + "\n"


class JobHistoryExportView(TeamScopedView):
    required = {"GET": JOB_READ}
    renderer_classes = [CSVRenderer, NDJSONRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # `format` picks the export format (csv by default) whatever the Accept header says.
        renderer = RENDERERS.get(request.query_params.get("format") or "csv")
        if renderer is None:
            if force:
                return CSVRenderer(), CSVRenderer.media_type
            raise ValidationError({"query.format": "Use format=csv or format=ndjson."})
        return renderer(), renderer.media_type

    @extend_schema(
        operation_id="jobs_history_export",
        summary="Export the job's history (filters and sort as in the list), streamed",
        tags=["history"],
        parameters=[
            JOB_ID,
            OpenApiParameter("format", {"type": "string", "enum": list(RENDERERS)}, OpenApiParameter.QUERY),
            docs.PAGING[0],
            *docs.FILTERS,
        ],
        responses={
            (200, CSVRenderer.media_type): OpenApiResponse(OpenApiTypes.STR, description="One row per run"),
            (200, NDJSONRenderer.media_type): OpenApiResponse(OpenApiTypes.STR, description="One item per line"),
            **problem_responses(400, 403, 409),
        },
    )
    def get(self, request: Request, id: str) -> StreamingHttpResponse:
        actor = actor_from_request(request)
        job = self.visible_job(request, id)
        field, descending = query_sort(request.query_params, SORTS, DEFAULT_SORT)
        runs = run_list(actor=actor, job=job, filters=request.query_params)
        fmt = request.accepted_renderer.format
        return export_response(runs, ordering=Ordering(field, descending), fmt=fmt, name=f"{job.natural_id}-history")


def export_response(runs: QuerySet[Run], *, ordering: Ordering, fmt: str, name: str) -> StreamingHttpResponse:
    """Every run of `runs` as a streamed CSV or NDJSON download `<name>.<fmt>` (the API's and the dashboard's)."""
    rows = run_export_iter(runs, ordering=ordering, steps=fmt == "ndjson")
    chunks = ndjson_chunks(rows) if fmt == "ndjson" else csv_chunks(rows)
    response = StreamingHttpResponse(chunks, content_type=f"{RENDERERS[fmt].media_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
