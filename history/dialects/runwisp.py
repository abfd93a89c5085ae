"""RunWisp's "List runs for a task" (seed 004, ../shared/specs/runwisp-openapi.json): `GET /api/tasks/{taskName}/runs`.

taskName is the job's natural ID. Paging is offset/limit with the matching `total` (exact up to
10,000, then that floor, as the primary API counts). Errors are huma's problem+json, which is the
primary API's shape without its extension members. Where the newer spec differs from the seed page,
the page wins: `replica_index`, not `instance_index`.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import problem_responses
from core.docs import query_param
from core.params import query_choice, query_int
from core.times import iso
from history.dialects.common import DialectView
from history.models import Run
from history.selectors import Ordering, run_count, run_list, run_page
from history.shapes import Field, Shape, column
from jobs.access import actor_from_request
from jobs.models import Job
from jobs.roles import JOB_READ
from jobs.selectors import LISTED_JOB_FIELDS

TASK_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{1,100}$")
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_OFFSET = 2_000_000_000
# RunWisp's sort fields → Run fields. Every run of a task has its task_name, so that sort falls back
# to creation order. An empty sort_field or sort_direction means the default: newest first.
SORT_FIELDS = {
    "task_name": "created_at",
    "status": "status",
    "start_at": "started_at",
    "exit_code": "exit_code",
    "duration": "duration_ms",
    "created_at": "created_at",
}
DESCENDING = {"asc": False, "desc": True}
# RunWisp's query names → RunFilter's, so the filtering is the primary API's.
FILTERS = {"status": "status", "task_name": "job", "search": "q"}
# RunWisp knows cron, api and cloud: a run a caller asked for is `api`; one Hourglass started by itself (its clock,
# or a job chain: another job's outcome) is `cron`.
TRIGGERS = {
    Run.Trigger.CRON: "cron",
    Run.Trigger.API: "api",
    Run.Trigger.DASHBOARD: "api",
    Run.Trigger.BACKFILL: "api",
    Run.Trigger.CHAIN: "cron",
}
# RunWisp has no "blocked" (our SSRF guard refusing the target); the request failed.
END_REASONS = {Run.EndReason.BLOCKED: "failed"}
# Huma's ErrorModel has additionalProperties: false; extension members (e.g. a 409's `jobs`) go.
ERROR_MODEL_FIELDS = ("type", "title", "status", "detail", "instance", "errors")


def _task_filters(request: Request) -> dict[str, str]:
    """RunWisp's filter parameters under RunFilter's names."""
    return {ours: request.query_params[theirs] for theirs, ours in FILTERS.items() if request.query_params.get(theirs)}


def _task_runs(actor: Any, job: Job, request: Request) -> Any:
    """run_list with RunWisp's filter names; a bad value is reported under the name the caller used."""
    filters = _task_filters(request)
    try:
        return run_list(actor=actor, job=job, filters=filters)
    except ValidationError as exc:
        theirs = {ours: name for name, ours in FILTERS.items()}
        raise ValidationError(
            {f"query.{theirs.get(field, field)}": messages for field, messages in exc.message_dict.items()}
        ) from exc


def _ordering(request: Request) -> Ordering:
    params = request.query_params
    field = query_choice(params, "sort_field", SORT_FIELDS, "created_at")
    return Ordering(field, descending=query_choice(params, "sort_direction", DESCENDING, "desc"))


# --- OpenAPI description of the same shapes ---------------------------------------------------


# One run as RunWisp's `Run`; optional fields without a value are left out, as huma's omitempty does.
# external_execution_id: Hourglass runs have none, so it is always the omitted empty value.
RUNWISP_RUN = Shape(
    "RunWispRun",
    [
        Field("created_at", serializers.DateTimeField(), lambda row: iso(row["created_at"])),
        Field("end_at", serializers.DateTimeField(required=False), lambda row: iso(row["finished_at"])),
        Field(
            "end_reason",
            serializers.ChoiceField(
                choices=["success", "failed", "stopped", "timeout", "crashed", "skipped", "missed", "log_overflow"],
                required=False,
                help_text="Why the run ended (set when status=ended)",
            ),
            lambda row: (
                END_REASONS.get(row["end_reason"], row["end_reason"]) if row["status"] == Run.Status.ENDED else None
            ),
        ),
        Field(
            "exit_code",
            serializers.IntegerField(help_text="0 until the run ends"),
            lambda row: row["exit_code"] if row["exit_code"] is not None else 0,
        ),
        Field("id", serializers.UUIDField(), lambda row: str(row["id"])),
        Field("replica_index", serializers.IntegerField(help_text="Always 0: a run is one request"), lambda row: 0),
        Field(
            "retry_attempt",
            serializers.IntegerField(help_text="0 for the first attempt"),
            lambda row: row["attempt"] - 1,
        ),
        Field(
            "retry_of_run_id",
            serializers.UUIDField(required=False),
            lambda row: str(row["retry_of_id"]) if row["retry_of_id"] else None,
        ),
        Field("start_at", serializers.DateTimeField(required=False), lambda row: iso(row["started_at"])),
        Field(
            "status",
            serializers.ChoiceField(choices=Run.Status.values, help_text="Run lifecycle phase"),
            column("status"),
        ),
        Field("task_name", serializers.CharField(), column("task_name")),
        Field(
            "triggered_by",
            serializers.ChoiceField(choices=["cron", "api", "cloud"], help_text="How the run was triggered"),
            lambda row: TRIGGERS.get(row["triggered_by"], "api"),
        ),
    ],
    omit=(None, ""),
)
RunWispRunSerializer = RUNWISP_RUN.serializer


def runwisp_run(row: dict[str, Any], task_name: str) -> dict[str, Any]:
    return RUNWISP_RUN.render({**row, "task_name": task_name})


class RunWispRunsSerializer(serializers.Serializer):
    runs = RunWispRunSerializer(many=True)
    total = serializers.IntegerField(help_text="Matching runs (exact up to 10,000, else 10,000)")


class RunWispView(DialectView):
    """RunWisp's errors: huma's problem+json (seed 004)."""

    def error_body(self, problem: dict[str, Any], request: Request) -> dict[str, Any]:
        body = {name: problem[name] for name in ERROR_MODEL_FIELDS if name in problem}
        # Huma's `instance` is a full URI (format: uri), not the path the primary API gives.
        body["instance"] = request.build_absolute_uri()
        return body


class TaskRunsView(RunWispView):
    """A task's runs with offset/limit, filters and sorting."""

    required = {"GET": JOB_READ}

    @extend_schema(
        operation_id="runwisp_task_runs",
        summary="RunWisp: list runs for a task (a job, by natural ID)",
        tags=["runwisp"],
        parameters=[
            OpenApiParameter(
                "taskName",
                {"type": "string", "minLength": 1, "maxLength": 100, "pattern": TASK_NAME_RE.pattern},
                OpenApiParameter.PATH,
                description="Task name (the job's natural ID)",
            ),
            query_param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}, "Max results"),
            query_param("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, "Offset"),
            query_param("status", {"type": "string", "enum": Run.Status.values}, "Filter by run status"),
            query_param("task_name", {"type": "string", "maxLength": 100}, "Filter by task name"),
            query_param("sort_field", {"type": "string", "enum": [*SORT_FIELDS, ""]}, "Field to sort by"),
            query_param("sort_direction", {"type": "string", "enum": [*DESCENDING, ""]}, "Sort direction"),
            query_param("search", {"type": "string", "maxLength": 200}, "Search the run name, error and response body"),
        ],
        responses={200: RunWispRunsSerializer, **problem_responses(400, 403, 409)},
    )
    def get(self, request: Request, taskName: str) -> Response:  # the seed's name
        if not TASK_NAME_RE.match(taskName):
            raise ValidationError({"path.taskName": "Use 1–100 letters, digits, '.', '_' or '-'."})
        actor = actor_from_request(request)
        job = self.visible_job(request, taskName, only=LISTED_JOB_FIELDS)
        runs = _task_runs(actor, job, request)
        ordering = _ordering(request)
        limit = query_int(request.query_params, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        offset = query_int(request.query_params, "offset", default=0, low=0, high=MAX_OFFSET)
        page = run_page(runs, ordering=ordering, limit=limit, start=offset, as_rows=True, steps=False)
        total, _ = run_count(runs, _task_filters(request))
        return Response({"runs": [runwisp_run(run, job.natural_id) for run in page.runs], "total": total})
