"""OpenAPI parameters of the history endpoints, declared once for the list, export and delete views."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from history.api.paging import SORTS
from history.models import Run


def _query(name: str, schema: dict | type | OpenApiTypes, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, required=False, description=description)


JOB_ID = OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Job UUID or natural ID")
HISTORY_ID = OpenApiParameter("historyId", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Run (history) ID")

FILTERS = [
    _query("status", {"type": "string", "enum": Run.Status.values}, "Lifecycle status"),
    _query("endReason", {"type": "string", "enum": Run.EndReason.values}, "Why the run ended"),
    _query("triggeredBy", {"type": "string", "enum": Run.Trigger.values}, "What started the run"),
    _query("success", {"type": "string", "enum": ["true", "false"]}, "Ended successfully, or not"),
    _query("httpStatus", {"type": "string", "pattern": "^[1-5]([0-9]{2}|xx)$"}, "A code (503) or a class (5xx)"),
    _query("createdAfter", OpenApiTypes.DATETIME, "Created at or after (ISO 8601)"),
    _query("createdBefore", OpenApiTypes.DATETIME, "Created before (ISO 8601)"),
    _query("attempt", {"type": "integer", "minimum": 1, "maximum": 32767}, "Attempt number (1 = first)"),
    _query("q", {"type": "string", "maxLength": 200}, "Search the run name, the error and the response body"),
]
SORT_VALUES = [prefix + name for name in SORTS for prefix in ("", "-")]
PAGING = [
    _query("sort", {"type": "string", "enum": SORT_VALUES, "default": "-createdAt"}, "Sort field, '-' for descending"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 30}, "Results per page"),
    _query("start", {"type": "integer", "minimum": 0, "maximum": 2_000_000_000, "default": 0}, "Offset"),
    _query("cursor", OpenApiTypes.STR, "Keyset cursor from a next/prev link (sort by createdAt only)"),
]
JOB_FILTER = _query("job", {"type": "string", "maxLength": 100}, "Only this job (UUID or natural ID)")
