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
from history.api.serializers import iso
from history.dialects.common import NEWEST_FIRST, DialectView
from history.models import Run
from history.selectors import run_list, run_page
from jobs import plans
from jobs.access import actor_from_request, job_for_actor
from jobs.api.params import query_int
from jobs.roles import JOB_READ

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Exit codes of failures that happened below HTTP (timeouts, refused or blocked connections): Krafter
# reports no status and no body for those, even when a status line arrived before the read timed out.
CONNECTION_LEVEL_EXIT_CODES = frozenset(plans.EXIT_CODES[kind] for kind in (plans.TIMEOUT, plans.CONNECTION))


def _connection_level(run: Run) -> bool:
    return run.end_reason == Run.EndReason.TIMEOUT or run.exit_code in CONNECTION_LEVEL_EXIT_CODES


def krafter_execution(run: Run) -> dict[str, Any]:
    """One ended run as Krafter shows it; anything but a success is `failed`."""
    succeeded = run.success
    below_http = not succeeded and _connection_level(run)
    return {
        "id": str(run.pk),
        "status": "success" if succeeded else "failed",
        "http_status": None if below_http else run.http_status,
        "response_body": None if below_http else run.response_body,
        # The executor records "HTTP 500" for a bad status and the exception's class otherwise; runs
        # that never fired (skipped, missed) fall back to their end reason.
        "error": None if succeeded else (run.error or run.end_reason),
        "attempt": run.attempt,
        "duration_ms": run.duration_ms,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
    }


# --- OpenAPI description of the same shapes ---------------------------------------------------


class KrafterExecutionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["success", "failed"])
    http_status = serializers.IntegerField(allow_null=True, help_text="null for connection errors and timeouts")
    response_body = serializers.CharField(
        allow_null=True, allow_blank=True, help_text="At most 2 KB, then `...[truncated]`; null for connection errors"
    )
    error = serializers.CharField(allow_null=True, help_text="null on success; `HTTP 500` or the error's class")
    attempt = serializers.IntegerField(help_text="1 for the first attempt")
    duration_ms = serializers.IntegerField(allow_null=True, help_text="null when the run never fired")
    started_at = serializers.DateTimeField(allow_null=True, help_text="null when the run never fired")
    finished_at = serializers.DateTimeField(allow_null=True, help_text="Set on every run Hourglass ends")


class KrafterExecutionsSerializer(serializers.Serializer):
    data = KrafterExecutionSerializer(many=True)


class ExecutionsView(DialectView):
    """A job's ended runs, most recent first, as Krafter Cron's executions (seed 003)."""

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
    def get(self, request: Request, id: str) -> Response:  # noqa: A002 - the seed's name
        actor = actor_from_request(request)
        job = job_for_actor(actor, id, JOB_READ)
        limit = query_int(request.query_params, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        runs = run_list(actor=actor, job=job, filters={"status": Run.Status.ENDED})
        page = run_page(runs, ordering=NEWEST_FIRST, limit=limit)
        return Response({"data": [krafter_execution(run) for run in page.runs]})
