"""Krafter Cron's "List Executions" (seed 003): `GET /api/v1/cron/jobs/{id}/executions?limit=`.

Ended runs only, newest first, at most `limit` (default 20, at most 100) in `{"data": [...]}`.
Krafter's `cron:read` scope is an alias of job:read (jobs.roles), so its keys work unchanged.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import problem_responses
from core.params import query_int
from core.times import iso
from history.dialects.common import NEWEST_FIRST, DialectView
from history.models import Run
from history.rows import succeeded
from history.selectors import run_list, run_page
from history.shapes import Field, Shape, column
from jobs.access import actor_from_request
from jobs.engine import plans
from jobs.roles import JOB_READ
from jobs.selectors import LISTED_JOB_FIELDS

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Exit codes of failures that happened below HTTP (timeouts, refused or blocked connections): Krafter
# reports no status and no body for those, even when a status line arrived before the read timed out.
CONNECTION_LEVEL_EXIT_CODES = frozenset(plans.EXIT_CODES[kind] for kind in (plans.TIMEOUT, plans.CONNECTION))


def _below_http(row: dict[str, Any]) -> bool:
    """A failure below HTTP: Krafter reports no status and no body for it."""
    connection_level = row["end_reason"] == Run.EndReason.TIMEOUT or row["exit_code"] in CONNECTION_LEVEL_EXIT_CODES
    return not succeeded(row) and connection_level


# One ended run as Krafter shows it; anything but a success is `failed`.
KRAFTER_EXECUTION = Shape(
    "KrafterExecution",
    [
        Field("id", serializers.UUIDField(), lambda row: str(row["id"])),
        Field(
            "status",
            serializers.ChoiceField(choices=["success", "failed"]),
            lambda row: "success" if succeeded(row) else "failed",
        ),
        Field(
            "http_status",
            serializers.IntegerField(allow_null=True, help_text="null for connection errors and timeouts"),
            lambda row: None if _below_http(row) else row["http_status"],
        ),
        Field(
            "response_body",
            serializers.CharField(
                allow_null=True,
                allow_blank=True,
                help_text="At most 2 KB, then `...[truncated]`; null for connection errors",
            ),
            lambda row: None if _below_http(row) else row["response_body"],
        ),
        # The executor records "HTTP 500" for a bad status and the exception's class otherwise; runs
        # that never fired (skipped, missed) fall back to their end reason.
        Field(
            "error",
            serializers.CharField(allow_null=True, help_text="null on success; `HTTP 500` or the error's class"),
            lambda row: None if succeeded(row) else (row["error"] or row["end_reason"]),
        ),
        Field("attempt", serializers.IntegerField(help_text="1 for the first attempt"), column("attempt")),
        Field(
            "duration_ms",
            serializers.IntegerField(allow_null=True, help_text="null when the run never fired"),
            column("duration_ms"),
        ),
        Field(
            "started_at",
            serializers.DateTimeField(allow_null=True, help_text="null when the run never fired"),
            lambda row: iso(row["started_at"]),
        ),
        Field(
            "finished_at",
            serializers.DateTimeField(allow_null=True, help_text="Set on every run Hourglass ends"),
            lambda row: iso(row["finished_at"]),
        ),
    ],
)
KrafterExecutionSerializer = KRAFTER_EXECUTION.serializer


class KrafterExecutionsSerializer(serializers.Serializer):
    data = KrafterExecutionSerializer(many=True)  # type: ignore[assignment]  # a field, not Serializer.data


class ExecutionsView(DialectView):
    """A job's ended runs, most recent first, as Krafter Cron's executions (seed 003)."""

    required = {"GET": JOB_READ}

    @extend_schema(
        operation_id="krafter_executions",
        summary="Krafter: list a job's executions (ended runs), most recent first",
        tags=["krafter"],
        parameters=[
            OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Job UUID or natural ID"),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                OpenApiParameter.QUERY,
                required=False,
                description="Number of executions to return (at most 100)",
            ),
        ],
        responses={200: KrafterExecutionsSerializer, **problem_responses(400, 403, 409)},
    )
    def get(self, request: Request, id: str) -> Response:  # the seed's name
        actor = actor_from_request(request)
        job = self.visible_job(request, id, only=LISTED_JOB_FIELDS)
        limit = query_int(request.query_params, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        runs = run_list(actor=actor, job=job, filters={"status": Run.Status.ENDED})
        page = run_page(runs, ordering=NEWEST_FIRST, limit=limit, as_rows=True, steps=False)
        return Response({"data": [KRAFTER_EXECUTION.render(row) for row in page.runs]})
