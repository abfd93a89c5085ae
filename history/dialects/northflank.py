"""Northflank's "Get job runs" (seed 001): `GET /v1/projects/{projectId}/jobs/{jobId}/runs`.

projectId is the team slug and jobId the job's UUID or natural ID. Paging is `page`/`per_page`
(at most 100) or the opaque `cursor` of the previous answer, which wins over `page`; the cursor is
a keyset position, so following it never skips or repeats a run while new ones arrive.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import problem_responses
from core.docs import query_param
from core.params import query_int
from core.times import iso
from history.api.docs import CURSOR_SCHEMA, PAGED_ERRORS
from history.dialects.common import NEWEST_FIRST, DialectView
from history.models import Run
from history.rows import active, succeeded
from history.selectors import Cursor, run_list, run_page, with_slot_completions
from history.shapes import Field, Shape, column
from jobs.access import actor_from_request
from jobs.roles import JOB_READ

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
# Keeps (page - 1) * per_page within the offsets the primary API accepts.
MAX_PAGE = 20_000_000
LEAN: dict[str, Any] = {"as_rows": True, "steps": False}  # plain rows; Northflank shows no steps


def run_status(row: dict[str, Any]) -> str:
    """SUCCESS | RUNNING | FAILED: a pending run counts as running, every ending but success as failed."""
    if active(row):
        return "RUNNING"
    return "SUCCESS" if succeeded(row) else "FAILED"


def northflank_page(request: Request, runs: Any) -> dict[str, Any]:
    """The page the request asks for, by cursor if given, else by page number, in Northflank's envelope."""
    params = request.query_params
    per_page = query_int(params, "per_page", default=DEFAULT_PER_PAGE, low=1, high=MAX_PER_PAGE)
    number = query_int(params, "page", default=1, low=1, high=MAX_PAGE)  # checked even when a cursor wins over it
    token = params.get("cursor")
    if token:
        page = run_page(runs, ordering=NEWEST_FIRST, limit=per_page, cursor=Cursor.decode(token), **LEAN)
    else:
        page = run_page(runs, ordering=NEWEST_FIRST, limit=per_page, start=(number - 1) * per_page, **LEAN)
    pagination: dict[str, Any] = {"hasNextPage": page.has_next}
    if page.has_next and page.next_cursor:
        pagination["cursor"] = page.next_cursor
    pagination["count"] = len(page.runs)
    return {"data": {"runs": [NORTHFLANK_RUN.render(row) for row in page.runs]}, "pagination": pagination}


# --- OpenAPI description of the same shapes ---------------------------------------------------


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": 1})
class FlagField(serializers.IntegerField):
    """Northflank's 0-or-1 integers (a range, not an enum, so the three flags need no three enum components)."""


def _concluded(row: dict[str, Any]) -> bool:
    return row["status"] == Run.Status.ENDED


# One run, the seed's fields in its order. Needs with_slot_completions() for `completions`.
NORTHFLANK_RUN = Shape(
    "NorthflankRun",
    [
        Field("id", serializers.UUIDField(), lambda row: str(row["id"])),
        Field("active", FlagField(help_text="1 while the run is pending or running"), lambda row: int(active(row))),
        Field(
            "backoffLimit",
            serializers.IntegerField(help_text="Retries allowed when the run was created"),
            column("backoff_limit"),
        ),
        Field(
            "completions",
            serializers.IntegerField(help_text="Attempts at this run's slot that have concluded"),
            column("slot_completions"),
        ),
        Field("concluded", serializers.BooleanField(), _concluded),
        Field("failed", FlagField(), lambda row: int(_concluded(row) and not succeeded(row))),
        Field("runName", serializers.CharField(allow_blank=True), column("run_name")),
        Field("status", serializers.ChoiceField(choices=["SUCCESS", "RUNNING", "FAILED"]), run_status),
        Field("succeeded", FlagField(), lambda row: int(succeeded(row))),
        Field(
            "startedAt",
            serializers.DateTimeField(allow_null=True, help_text="null until the run starts"),
            lambda row: iso(row["started_at"]),
        ),
        Field(
            "concludedAt",
            serializers.DateTimeField(allow_null=True, help_text="null until the run concludes"),
            lambda row: iso(row["finished_at"]),
        ),
    ],
)
NorthflankRunSerializer = NORTHFLANK_RUN.serializer


class NorthflankRunsDataSerializer(serializers.Serializer):
    runs = NorthflankRunSerializer(many=True)


class NorthflankPaginationSerializer(serializers.Serializer):
    hasNextPage = serializers.BooleanField()
    cursor = serializers.CharField(required=False, help_text="Pass as `cursor` for the next page; absent on the last")
    count = serializers.IntegerField(help_text="Runs in this answer")


class NorthflankRunsSerializer(serializers.Serializer):
    data = NorthflankRunsDataSerializer()  # type: ignore[assignment]  # a field, not Serializer.data
    pagination = NorthflankPaginationSerializer()


def _path(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.PATH, description=description)


class JobRunsView(DialectView):
    """Runs of one job in a team, newest first, paged by `page`/`per_page` or by `cursor` (seed 001)."""

    required = {"GET": JOB_READ}

    @extend_schema(
        operation_id="northflank_job_runs",
        summary="Northflank: get job runs, newest first",
        tags=["northflank"],
        parameters=[
            _path("projectId", "Team slug"),
            _path("jobId", "Job UUID or natural ID"),
            query_param(
                "per_page",
                {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE},
                "Runs per page (at most 100)",
            ),
            query_param("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}, "Page number"),
            query_param("cursor", CURSOR_SCHEMA, "The `pagination.cursor` of the previous answer; wins over `page`"),
        ],
        responses={200: NorthflankRunsSerializer, **problem_responses(400, 403, described=PAGED_ERRORS)},
    )
    def get(self, request: Request, projectId: str, jobId: str) -> Response:  # the seed's names
        actor = actor_from_request(request)
        team = self.visible_team(request, projectId)
        job = self.visible_job(request, jobId, team_id=team.pk)
        runs = with_slot_completions(run_list(actor=actor, job=job))
        return Response(northflank_page(request, runs))
