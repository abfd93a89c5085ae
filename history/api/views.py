"""Informer's history endpoints (seed 000) plus ours: parse, check, call a selector or service, render."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import problem_responses
from config.renderers import FAST_RENDERERS
from core.api import TeamScopedView
from core.docs import JOB_ID
from core.params import query_choice
from core.strict import refuse_fields, unknown_fields
from core.times import iso
from history.api import docs
from history.api.paging import history_envelope
from history.api.serializers import (
    DeletedSerializer,
    HistoryDetailSerializer,
    HistoryFilterSerializer,
    HistoryItemSerializer,
    HistoryListSerializer,
    StatsSerializer,
    TriggerSerializer,
    run_item,
)
from history.chains import run_chain
from history.models import Run
from history.rows import row_of
from history.selectors import run_get, run_list, run_list_unsearched, run_stats
from history.services import run_cancel, run_delete, run_rerun, run_trigger, runs_delete
from jobs.access import Actor, actor_from_request
from jobs.models import Job
from jobs.roles import JOB_EDIT, JOB_READ, JOB_RUN
from jobs.selectors import LISTED_JOB_FIELDS

TAGS = ["history"]
JOB_TAGS = ["jobs"]  # run now and stats are actions on the job; they answer with its runs
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def _run_of(actor: Actor, job: Job, history_id: str) -> Run:
    run = run_get(actor=actor, job=job, run_id=history_id)
    if run is None:
        raise exceptions.NotFound(f"No run {history_id!r} in job {job.natural_id!r}.")
    return run


def run_response(actor: Actor, run: Run, status_code: int = status.HTTP_200_OK) -> Response:
    """Answer with the run as rendered in history (re-read, so its steps and user come along)."""
    fresh = run_get(actor=actor, run_id=str(run.pk)) or run
    location = reverse("api:job-history-detail", args=[run.job_id, run.pk])
    headers = {"Location": location} if status_code in (status.HTTP_201_CREATED, status.HTTP_202_ACCEPTED) else None
    return Response(run_item(row_of(fresh)), status=status_code, headers=headers)


class JobHistoryViewSet(viewsets.ViewSetMixin, TeamScopedView):
    required = {
        "index": JOB_READ,
        "run": JOB_RUN,
        "stats": JOB_READ,
        "retrieve": JOB_READ,
        "destroy": JOB_EDIT,
        "cancel": JOB_RUN,
        "rerun": JOB_RUN,
        "delete_matching": JOB_EDIT,
    }
    renderer_classes = FAST_RENDERERS

    @extend_schema(
        operation_id="jobs_history_list",
        summary="List execution history for a job",
        tags=TAGS,
        parameters=[JOB_ID, *docs.PAGING, *docs.FILTERS],
        responses={200: HistoryListSerializer, **problem_responses(400, 403, 409, described=docs.PAGED_ERRORS)},
    )
    def index(self, request: Request, id: str) -> Response:  # the seed's name
        actor = actor_from_request(request)
        job = self.visible_job(request, id, only=LISTED_JOB_FIELDS)
        runs = run_list(actor=actor, job=job, filters=request.query_params)
        return Response(history_envelope(request, runs))

    @extend_schema(
        operation_id="jobs_run",
        summary="Run the job now (job:run); answers 202 with the new run",
        tags=JOB_TAGS,
        parameters=[JOB_ID],
        request=TriggerSerializer,
        responses={202: HistoryItemSerializer, **problem_responses(400, 403, 409, 413)},
    )
    def run(self, request: Request, id: str) -> Response:
        actor = actor_from_request(request)
        job = self.visible_job(request, id)
        serializer = TriggerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        variables = serializer.validated_data.get("variables")
        new_run = run_trigger(job=job, by=actor.user, triggered_by="api", variables=variables)
        return run_response(actor, new_run, status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="jobs_stats",
        summary="Run count, success rate, duration and lateness percentiles over a window",
        tags=JOB_TAGS,
        parameters=[JOB_ID, docs.WINDOW_PARAM],
        responses={200: StatsSerializer, **problem_responses(400, 403, 409)},
    )
    def stats(self, request: Request, id: str) -> Response:
        job = self.visible_job(request, id)
        window = request.query_params.get("window") or "24h"
        since = timezone.now() - query_choice(request.query_params, "window", WINDOWS, "24h")
        stats = run_stats(job=job, since=since)
        return Response(
            {
                "jobId": str(job.pk),
                "window": window,
                "since": iso(since),
                "runs": stats["runs"],
                "ended": stats["ended"],
                "succeeded": stats["succeeded"],
                "successRate": stats["success_rate"],
                "durationMs": stats["duration_ms"],
                "latenessMs": stats["lateness_ms"],
                "lastSuccessAt": iso(stats["last_success"]),
                "lastFailureAt": iso(stats["last_failure"]),
            }
        )

    @extend_schema(
        operation_id="jobs_history_retrieve",
        summary="Get details for a specific job execution",
        tags=TAGS,
        parameters=[JOB_ID, docs.HISTORY_ID],
        responses={200: HistoryDetailSerializer, **problem_responses(403, 409)},
    )
    def retrieve(self, request: Request, id: str, historyId: str) -> Response:
        actor = actor_from_request(request)
        job = self.visible_job(request, id)
        run = _run_of(actor, job, historyId)
        return Response({**run_item(row_of(run)), "chain": run_chain(run)})

    @extend_schema(
        operation_id="jobs_history_destroy",
        summary="Delete a specific history record (job:edit); a pending or running run answers 409",
        tags=TAGS,
        parameters=[JOB_ID, docs.HISTORY_ID],
        responses={204: None, **problem_responses(403, 409)},
    )
    def destroy(self, request: Request, id: str, historyId: str) -> Response:
        actor = actor_from_request(request)
        job = self.visible_job(request, id)
        run = _run_of(actor, job, historyId)
        run_delete(run=run, by=actor.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="jobs_history_cancel",
        summary="Cancel a pending or running run (job:run); an ended run answers 409",
        tags=TAGS,
        request=None,
        parameters=[JOB_ID, docs.HISTORY_ID],
        responses={200: HistoryItemSerializer, **problem_responses(403, 409)},
    )
    def cancel(self, request: Request, id: str, historyId: str) -> Response:
        actor = actor_from_request(request)
        job = self.visible_job(request, id)
        run = _run_of(actor, job, historyId)
        refuse_fields(request.data)
        run = run_cancel(run=run, by=actor.user)
        return run_response(actor, run)

    @extend_schema(
        operation_id="jobs_history_rerun",
        summary="Run the job again now with this run's variables (job:run); answers 202 with the new run",
        tags=TAGS,
        request=None,
        parameters=[JOB_ID, docs.HISTORY_ID],
        responses={202: HistoryItemSerializer, **problem_responses(400, 403, 409)},
    )
    def rerun(self, request: Request, id: str, historyId: str) -> Response:
        actor = actor_from_request(request)
        job = self.visible_job(request, id)
        run = _run_of(actor, job, historyId)
        refuse_fields(request.data)
        new_run = run_rerun(run=run, by=actor.user, triggered_by=Run.Trigger.API)
        return run_response(actor, new_run, status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="jobs_history_delete_matching",
        summary="Delete the ended runs matching the filters in the body (job:edit); active runs are kept",
        tags=TAGS,
        parameters=[JOB_ID],
        request=HistoryFilterSerializer,
        responses={200: DeletedSerializer, **problem_responses(400, 403, 409, 413)},
    )
    def delete_matching(self, request: Request, id: str) -> Response:
        actor = actor_from_request(request)
        job = self.visible_job(request, id)
        if not isinstance(request.data, dict):
            raise ValidationError({"body": "Send the filters as a JSON object (may be empty: {})."})
        unknown = unknown_fields(request.data, HistoryFilterSerializer().fields)
        if unknown:
            raise ValidationError(unknown)
        runs = run_list(actor=actor, job=job, filters=request.data)
        return Response({"deleted": runs_delete(queryset=runs, by=actor.user)})


class HistoryListView(TeamScopedView):
    required_in_some_team = {"GET": JOB_READ}
    renderer_classes = FAST_RENDERERS

    @extend_schema(
        operation_id="history_list",
        summary="Every run in the caller's teams, newest first by default",
        tags=TAGS,
        parameters=[*docs.PAGING, *docs.FILTERS, docs.JOB_FILTER],
        responses={200: HistoryListSerializer, **problem_responses(400, 403, described=docs.PAGED_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        actor = actor_from_request(request)
        runs = run_list(actor=actor, filters=request.query_params)
        unsearched = run_list_unsearched(actor=actor, filters=request.query_params)
        return Response(history_envelope(request, runs, unsearched))
