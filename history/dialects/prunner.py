"""prunner's job endpoints (seed 002, ../shared/specs/prunner-swagger.yml): detail, cancel, schedule.

A prunner "job" is one of our runs, its `pipeline` the job's natural ID and its `tasks` the run's
steps. Errors are prunner's `{"error": "..."}` (also for 401/403), with the primary API's statuses.
Optional values that are unset are left out rather than sent as null, as prunner's Go structs do
with omitempty, so the spec's plain `string` types hold.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.clean_input import CleanJSONParser
from core.strict import StrictSerializer
from core.times import iso
from history.dialects.common import DialectView
from history.models import Run, RunStep
from history.selectors import run_get
from history.services import run_cancel, run_trigger
from jobs.access import actor_from_request
from jobs.models import NATURAL_ID_RE
from jobs.roles import JOB_READ, JOB_RUN
from jobs.steps import topological_order


def _omit_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def prunner_task(step: RunStep) -> dict[str, Any]:
    errored = step.status == RunStep.Status.ERROR
    return _omit_none(
        {
            "dependsOn": list(step.depends_on or []),
            "end": iso(step.finished_at),
            "error": (step.error or step.message or None) if errored else None,
            "errored": errored,
            "exitCode": step.exit_code or 0,
            "name": step.name,
            "skipped": step.status == RunStep.Status.SKIPPED,
            "start": iso(step.started_at),
            "status": step.status,
        }
    )


def run_steps(run: Run) -> list[RunStep]:
    """The run's steps in prunner's order: topologically by dependencies, then by name.

    A pending run has no step rows yet (the executor creates them when it claims the run), so its
    job's steps are shown waiting, as prunner lists a queued job's tasks.
    """
    steps = list(run.steps.all())
    if not steps and run.status == Run.Status.PENDING:
        steps = [RunStep(name=s.name, depends_on=s.depends_on) for s in run.job.steps.all()]
    by_name = {step.name: step for step in steps}
    # A dependency on a step since removed from the job cannot order anything; leave it out.
    graph = {step.name: [d for d in step.depends_on or [] if d in by_name] for step in steps}
    return [by_name[name] for name in topological_order(graph)]


def prunner_job(run: Run) -> dict[str, Any]:
    """One run as prunner's `job`. Needs run_get() (team, user, steps prefetched) plus the job."""
    steps = run_steps(run)
    canceled = run.end_reason == Run.EndReason.STOPPED
    errored = run.status == Run.Status.ENDED and not run.success and not canceled
    failed_steps = [step for step in steps if step.status == RunStep.Status.ERROR]
    last_error = (failed_steps[-1].error or failed_steps[-1].message) if failed_steps else None
    return _omit_none(
        {
            "canceled": canceled,
            "completed": run.status == Run.Status.ENDED,
            "created": iso(run.created_at),
            "end": iso(run.finished_at),
            "errored": errored,
            "id": str(run.pk),
            # "Error message of last task that had an error": also on a run that succeeded with a step
            # failed (Informer's warnings: true). An anomaly warning has no such task: prunner has no
            # field for it, and the run reads as the success it is.
            "lastError": (last_error or run.error or run.end_reason) if errored else last_error,
            "pipeline": run.job.natural_id,
            "start": iso(run.started_at),
            "tasks": [prunner_task(step) for step in steps],
            "user": run.triggered_by_user.get_username() if run.triggered_by_user else "",
            "variables": run.variables or {},
        }
    )


def _run_for(view: DialectView, request: Request) -> Run:
    """The run named by `?id=`: 400 if missing or not a UUID, 404 if not visible, 403 without the view's permission."""
    actor = actor_from_request(request)
    run_id = request.query_params.get("id", "").strip()
    if not run_id:
        raise ValidationError({"query.id": "The job id is required."})
    try:
        uuid.UUID(run_id)
    except ValueError:
        raise ValidationError({"query.id": f"{run_id!r} is not a job id (a UUID)."}) from None
    run = run_get(actor=actor, run_id=run_id)
    if run is None:
        raise exceptions.NotFound(f"Job {run_id} not found.")
    view.check_object_permissions(request, run)
    return run


# --- OpenAPI description of the same shapes ---------------------------------------------------


class PrunnerTaskSerializer(serializers.Serializer):
    dependsOn = serializers.ListField(child=serializers.CharField())
    end = serializers.DateTimeField(required=False)
    error = serializers.CharField(required=False)
    errored = serializers.BooleanField()
    exitCode = serializers.IntegerField()
    name = serializers.CharField()
    skipped = serializers.BooleanField()
    start = serializers.DateTimeField(required=False)
    status = serializers.ChoiceField(choices=RunStep.Status.values)


class PrunnerJobSerializer(serializers.Serializer):
    canceled = serializers.BooleanField()
    completed = serializers.BooleanField()
    created = serializers.DateTimeField()
    end = serializers.DateTimeField(required=False)
    errored = serializers.BooleanField()
    id = serializers.UUIDField()
    lastError = serializers.CharField(required=False)
    pipeline = serializers.CharField(help_text="The job's natural ID")
    start = serializers.DateTimeField(required=False)
    tasks = PrunnerTaskSerializer(many=True, help_text="Ordered topologically by dependencies, then by name")
    user = serializers.CharField(allow_blank=True, help_text="Who triggered the run; empty for the schedule")
    variables = serializers.DictField()


class PrunnerScheduleSerializer(StrictSerializer):
    # Natural IDs and UUIDs both match; anything else cannot name a job, so it is a 400, not a 404.
    pipeline = serializers.RegexField(NATURAL_ID_RE, max_length=100, help_text="The job's natural ID or UUID")
    variables = serializers.DictField(required=False, help_text="Values for {{ variables }} in this run only")


class PrunnerScheduledSerializer(serializers.Serializer):
    jobId = serializers.UUIDField(help_text="The new run's id")


class PrunnerErrorSerializer(serializers.Serializer):
    error = serializers.CharField()


_ERRORS = {
    400: "Missing or malformed input",
    401: "No credentials, or a bad key; carries `WWW-Authenticate: Bearer`",
    403: "Lacks the permission this needs",
    404: "Unknown, or not visible to the caller",
    409: "Conflicts with the job's state, or the pipeline name matches jobs in several teams",
    415: "The body is not application/json",
    429: "Throttled; see `Retry-After`",
}


def error_responses(*codes: int) -> dict[Any, OpenApiResponse]:
    return {
        (code, "application/json"): OpenApiResponse(PrunnerErrorSerializer, description=_ERRORS[code])
        for code in sorted({*codes, 401, 404, 429})
    }


ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.QUERY, required=True, description="Job (run) id")


class PrunnerView(DialectView):
    """prunner's endpoints answer errors as `{"error": "..."}` in plain JSON."""

    error_media_type = "application/json"

    def error_body(self, problem: dict[str, Any], request: Request) -> dict[str, Any]:
        return {"error": problem["detail"]}


class JobDetailView(PrunnerView):
    """One run as a prunner job, with its steps as `tasks` (seed 002)."""

    required = {"GET": JOB_READ}

    @extend_schema(
        operation_id="prunner_job_detail",
        summary="prunner: get details about a single job (one of our runs)",
        tags=["prunner"],
        parameters=[ID],
        responses={200: PrunnerJobSerializer, **error_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        run = _run_for(self, request)
        return Response(prunner_job(run))


class JobCancelView(PrunnerView):
    """Cancel a run: a pending one stops at once, a running one is asked to stop."""

    required = {"POST": JOB_RUN}

    @extend_schema(
        operation_id="prunner_job_cancel",
        summary="prunner: cancel a pending or running job (job:run); an ended one answers 409",
        tags=["prunner"],
        parameters=[ID],
        request=None,
        responses={200: OpenApiResponse(description="Cancel requested; no body"), **error_responses(400, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        actor = actor_from_request(request)
        run = _run_for(self, request)
        run_cancel(run=run, by=actor.user)
        return Response(status=status.HTTP_200_OK)


class PipelinesScheduleView(PrunnerView):
    """Trigger a run of the job named by `pipeline`, with optional variables."""

    required = {"POST": JOB_RUN}

    parser_classes = [CleanJSONParser]  # prunner's schedule consumes application/json only

    @extend_schema(
        operation_id="prunner_pipelines_schedule",
        summary="prunner: run a job now (job:run), answering the new run's id as `jobId`",
        tags=["prunner"],
        request=PrunnerScheduleSerializer,
        responses={202: PrunnerScheduledSerializer, **error_responses(400, 403, 409, 415)},
    )
    def post(self, request: Request) -> Response:
        actor = actor_from_request(request)
        body = PrunnerScheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = self.visible_job(request, body.validated_data["pipeline"])
        run = run_trigger(
            job=job, by=actor.user, triggered_by=Run.Trigger.API, variables=body.validated_data.get("variables")
        )
        return Response({"jobId": str(run.pk)}, status=status.HTTP_202_ACCEPTED)
