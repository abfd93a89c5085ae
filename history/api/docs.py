"""OpenAPI parameters of the history endpoints, declared once for the list, export and delete views."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from core.docs import query_param
from history.api.paging import SORTS
from history.models import Run
from history.paging import MAX_CURSOR_LENGTH

# What a cursor looks like (URL-safe base64 of a small JSON object); only those a link gave are accepted.
CURSOR_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": MAX_CURSOR_LENGTH}
HISTORY_ID = OpenApiParameter("historyId", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Run (history) ID")

FILTERS = [
    query_param("status", {"type": "string", "enum": Run.Status.values}, "Lifecycle status"),
    query_param("endReason", {"type": "string", "enum": Run.EndReason.values}, "Why the run ended"),
    query_param("triggeredBy", {"type": "string", "enum": Run.Trigger.values}, "What started the run"),
    query_param("success", {"type": "string", "enum": ["true", "false"]}, "Ended successfully, or not"),
    query_param("httpStatus", {"type": "string", "pattern": "^[1-5]([0-9]{2}|xx)$"}, "A code (503) or a class (5xx)"),
    query_param("createdAfter", OpenApiTypes.DATETIME, "Created at or after (ISO 8601)"),
    query_param("createdBefore", OpenApiTypes.DATETIME, "Created before (ISO 8601)"),
    query_param("attempt", {"type": "integer", "minimum": 1, "maximum": 32767}, "Attempt number (1 = first)"),
    query_param("q", {"type": "string", "maxLength": 200}, "Search the run name, the error and the response body"),
]
SORT_VALUES = [prefix + name for name in SORTS for prefix in ("", "-")]
PAGING = [
    query_param(
        "sort", {"type": "string", "enum": SORT_VALUES, "default": "-createdAt"}, "Sort field, '-' for descending"
    ),
    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 30}, "Results per page"),
    query_param("start", {"type": "integer", "minimum": 0, "maximum": 2_000_000_000, "default": 0}, "Offset"),
    query_param("cursor", CURSOR_SCHEMA, "Keyset cursor from a next/prev link (sort by createdAt only); opaque"),
]
# A paged list's 400: any bad parameter, including a cursor that no `next`/`prev` link gave.
PAGED_ERRORS = {
    400: "Invalid input (see `errors`): a bad filter, sort or limit, an empty filter value, or a `cursor`"
    " that is not one of this API's `next`/`prev` cursors (garbled, edited or too long).",
}
JOB_FILTER = query_param("job", {"type": "string", "maxLength": 100}, "Only this job (UUID or natural ID)")
WINDOW_PARAM = query_param("window", {"type": "string", "enum": ["24h", "7d", "30d"], "default": "24h"}, "Time window")
