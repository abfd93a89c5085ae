"""The jobs endpoints: parse, check permission (jobs.access), call a service or selector, render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, cast

from django.core.exceptions import ValidationError
from django.db.models import prefetch_related_objects
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import flatten_errors, problem_responses
from core import docs
from core.api import TeamScopedView
from core.params import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Gathered,
    hal_list,
    offset_links,
    query_int,
    query_sort,
    query_text,
)
from core.strict import refuse_fields
from core.times import iso
from jobs import schedules
from jobs.access import actor_from_request
from jobs.api import schema
from jobs.api.inputs import job_create_from_input, job_update_from_input, parsed_anyway
from jobs.api.serializers import JobChangeSerializer, JobSerializer, JobWrittenSerializer
from jobs.calendar_services import attached_for_job, calendars_prefetch
from jobs.calendars import first_firing, mark_slots
from jobs.chains import TRIGGERS_PREFETCH as TRIGGERS
from jobs.models import Job, Team
from jobs.roles import JOB_EDIT, JOB_READ
from jobs.selectors import job_list
from jobs.services import job_delete, job_set_enabled

JOB_REL = "inf:job"
JOB_SORTS = {"name": "name", "naturalId": "natural_id", "createdAt": "created_at", "nextRunAt": "next_run_at"}
TAGS = ["jobs"]


def _team_for_create(view: TeamScopedView, request: Request, slug: str | None) -> Team:
    actor = actor_from_request(request)
    if slug:
        return view.visible_team(request, slug)
    if len(actor.team_ids) == 1:
        team = Team.objects.get(pk=actor.team_ids[0])
        return view.visible_team(request, team.slug)
    if not actor.team_ids:
        raise exceptions.PermissionDenied("You are not a member of any team.")
    slugs = sorted(Team.objects.filter(pk__in=actor.team_ids).values_list("slug", flat=True))
    raise ValidationError({"team": f"You are in several teams; give one of: {', '.join(slugs)}."})


def _job_response(job: Job, status_code: int = status.HTTP_200_OK, *, written: bool = False) -> Response:
    fresh = Job.objects.select_related("team").prefetch_related("steps", calendars_prefetch(), TRIGGERS).get(pk=job.pk)
    headers = {"Location": reverse("api:job-detail", args=[job.pk])} if status_code == 201 else None
    body = JobSerializer(fresh).data
    if written:  # a create or a change says which stored secrets it dropped (jobs.secrets)
        body["droppedSecrets"] = [dropped.as_dict() for dropped in getattr(job, "dropped_secrets", [])]
    return Response(body, status=status_code, headers=headers)


def _refuse(serializer: JobSerializer, check: Callable[[], object]) -> NoReturn:
    """Raise the serializer's errors together with the service's on what did parse (none twice)."""
    errors: dict[str, Any] = dict(serializer.errors)
    if serializer.initial_data is not None and isinstance(serializer.initial_data, dict):
        try:
            check()
        except ValidationError as exc:
            taken = [path for path, _ in flatten_errors(serializer.errors, "")]
            for path, messages in exc.message_dict.items():
                # Not where the serializer has spoken already: on the field, inside it, or around it
                # (an error on `calendars` would replace the one on `calendars[0].mode`).
                if not any(
                    path == seen
                    or path.startswith((f"{seen}.", f"{seen}["))
                    or seen.startswith((f"{path}.", f"{path}["))
                    for seen in taken
                ):
                    errors[path] = messages
    raise exceptions.ValidationError(errors)


class JobViewSet(viewsets.ViewSetMixin, TeamScopedView):
    required = {
        "retrieve": JOB_READ,
        "partial_update": JOB_EDIT,
        "destroy": JOB_EDIT,
        "create": JOB_EDIT,
        "pause": JOB_EDIT,
        "resume": JOB_EDIT,
        "fire_times": JOB_READ,
    }
    required_in_some_team = {"index": JOB_READ}

    @extend_schema(
        operation_id="jobs_list",
        summary="List the caller's jobs (HAL)",
        tags=TAGS,
        parameters=schema.JOB_LIST_PARAMS,
        responses={200: schema.JobListSerializer, **problem_responses(400, 403)},
    )
    def index(self, request: Request) -> Response:
        actor = actor_from_request(request)
        params, gather = request.query_params, Gathered()
        sort = gather(query_sort, params, JOB_SORTS, "name")
        limit = gather(query_int, params, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        start = gather(query_int, params, "start", default=0, low=0, high=2_000_000_000)
        q, team = gather(query_text, params, "q", max_length=200), gather(query_text, params, "team", max_length=64)
        gather.check()
        field, descending = sort
        jobs = job_list(actor=actor, permission=JOB_READ, q=q, team=team)
        ordered = jobs.order_by(f"-{field}" if descending else field, "pk")
        page = list(
            ordered.select_related("team").prefetch_related("steps", calendars_prefetch(), TRIGGERS)[
                start : start + limit + 1
            ]
        )
        next_href, prev_href = offset_links(request, start=start, limit=limit, has_next=len(page) > limit)
        items = cast("list[dict[str, Any]]", JobSerializer(page[:limit], many=True).data)  # many=True: a list
        body = hal_list(
            request, rel=JOB_REL, items=items, start=start, total=jobs.count(), next_href=next_href, prev_href=prev_href
        )
        return Response(body)

    @extend_schema(
        operation_id="jobs_create",
        summary="Create a job (job:edit)",
        tags=TAGS,
        request=JobSerializer,
        responses={201: JobWrittenSerializer, **problem_responses(400, 403, 413)},
    )
    def create(self, request: Request) -> Response:
        actor = actor_from_request(request)
        serializer = JobSerializer(data=request.data)
        if not serializer.is_valid():
            parsed = parsed_anyway(serializer)

            def check() -> None:
                if parsed is not None:
                    team = _team_for_create(self, request, parsed.get("team"))
                    job_create_from_input(team=team, data=parsed, by=actor.user, save=False)

            _refuse(serializer, check)
        team = _team_for_create(self, request, serializer.validated_data.get("team"))
        job = job_create_from_input(team=team, data=serializer.validated_data, by=actor.user)
        assert job is not None  # noqa: S101 - saved
        return _job_response(job, status.HTTP_201_CREATED, written=True)

    @extend_schema(
        operation_id="jobs_retrieve",
        summary="Get a job",
        tags=TAGS,
        parameters=[docs.JOB_ID],
        responses={200: JobSerializer, **problem_responses(403, 409)},
    )
    def retrieve(self, request: Request, id: str) -> Response:
        job = self.visible_job(request, id)
        return _job_response(job)

    @extend_schema(
        operation_id="jobs_partial_update",
        summary="Change a job (job:edit); send only the fields to change",
        tags=TAGS,
        parameters=[docs.JOB_ID],
        request=JobChangeSerializer(partial=True),
        responses={200: JobWrittenSerializer, **problem_responses(400, 403, 409, 413)},
    )
    def partial_update(self, request: Request, id: str) -> Response:
        job = self.visible_job(request, id)
        serializer = JobChangeSerializer(job, data=request.data, partial=True)
        if not serializer.is_valid():
            parsed = parsed_anyway(serializer)

            def check_change() -> None:
                if parsed is not None:
                    job_update_from_input(job=job, data=parsed, save=False)

            _refuse(serializer, check_change)
        changed = job_update_from_input(job=job, data=serializer.validated_data)
        assert changed is not None  # noqa: S101 - saved
        return _job_response(changed, written=True)

    @extend_schema(
        operation_id="jobs_destroy",
        summary="Delete a job and its history (job:edit)",
        tags=TAGS,
        parameters=[docs.JOB_ID],
        responses={204: None, **problem_responses(403, 409)},
    )
    def destroy(self, request: Request, id: str) -> Response:
        actor = actor_from_request(request)
        job = self.visible_job(request, id)
        job_delete(job=job, by=actor.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _set_enabled(self, request: Request, ref: str, enabled: bool) -> Response:
        job = self.visible_job(request, ref)
        refuse_fields(request.data)
        return _job_response(job_set_enabled(job=job, enabled=enabled))

    @extend_schema(
        operation_id="jobs_pause",
        summary="Pause: no more scheduled runs until resumed (job:edit)",
        tags=TAGS,
        request=None,
        parameters=[docs.JOB_ID],
        responses={200: JobSerializer, **problem_responses(403, 409)},
    )
    def pause(self, request: Request, id: str) -> Response:
        return self._set_enabled(request, id, False)

    @extend_schema(
        operation_id="jobs_resume",
        summary="Resume a paused job from its next slot (job:edit)",
        tags=TAGS,
        request=None,
        parameters=[docs.JOB_ID],
        responses={200: JobSerializer, **problem_responses(403, 409)},
    )
    def resume(self, request: Request, id: str) -> Response:
        return self._set_enabled(request, id, True)

    @extend_schema(
        operation_id="jobs_fire_times",
        summary="The next slots (each marked when a calendar removes it), the fire times among them, and the"
        " schedule in words",
        tags=TAGS,
        parameters=[docs.JOB_ID, schema.COUNT_PARAM],
        responses={200: schema.FireTimesSerializer, **problem_responses(400, 403, 409)},
    )
    def fire_times(self, request: Request, id: str) -> Response:
        job = self.visible_job(request, id)
        count = query_int(request.query_params, "count", default=10, low=1, high=100)
        prefetch_related_objects([job], calendars_prefetch())  # the slots and the description read them
        now = timezone.now()
        times = schedules.preview(job.schedule, now, count)
        attached = attached_for_job(job)
        marked = mark_slots(attached, times, job.timezone)
        next_fire = first_firing(attached, job.schedule, now) if attached else (times[0] if times else None)
        return Response(
            {
                "jobId": str(job.pk),
                "enabled": job.enabled,
                "description": job.schedule_text,
                "timezone": job.timezone,
                "fireTimes": [iso(slot) for slot, reason in marked if not reason],
                "slots": [{"at": iso(slot), "removedBy": reason or None} for slot, reason in marked],
                "nextFireAt": iso(next_fire),
                "after": job.after,
            }
        )
