"""A team's calendars: list and read (job:read), create, change and delete (job:edit)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import problem_responses
from core.api import TeamScopedView
from core.strict import StrictSerializer
from core.times import iso
from jobs.access import actor_from_request
from jobs.calendar_models import Calendar
from jobs.calendar_services import calendar_delete, calendar_lookup, calendar_summary, calendar_write
from jobs.models import Team
from jobs.roles import JOB_EDIT, JOB_READ

TAGS = ["calendars"]
TEAM = OpenApiParameter("team", str, OpenApiParameter.PATH, description="Team slug")
CALENDAR = OpenApiParameter("calendar", str, OpenApiParameter.PATH, description="The calendar's name or UUID")


class HolidaysSerializer(StrictSerializer):
    country = serializers.CharField(max_length=3, help_text="ISO 3166 code, e.g. US or DE")
    subdivision = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="e.g. NY, or BY for Bavaria; blank for none"
    )


class WindowSerializer(StrictSerializer):
    days = serializers.ListField(
        child=serializers.CharField(max_length=20),
        min_length=1,
        max_length=7,
        help_text="Days the window starts on: mon … sun, or ranges such as mon-fri",
    )
    start = serializers.CharField(max_length=5, help_text="Wall time HH:MM")
    end = serializers.CharField(
        max_length=5, help_text="Wall time HH:MM (24:00 for midnight); at or before start: the next day"
    )
    timezone = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="IANA zone; blank: the job's own"
    )


class CalendarInputSerializer(StrictSerializer):
    """Types only: the rules (a country the holidays package knows, real dates and times, a zone) are the service's."""

    name = serializers.CharField(max_length=100, help_text="Unique in the team; jobs and manifests use it")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, help_text="Free text")
    holidays = HolidaysSerializer(many=True, required=False, help_text="Public holidays of each country given")
    dates = serializers.ListField(
        child=serializers.CharField(max_length=21),
        required=False,
        max_length=1000,
        help_text="Days (YYYY-MM-DD) and inclusive ranges (YYYY-MM-DD/YYYY-MM-DD), on the job's clock",
    )
    windows = WindowSerializer(many=True, required=False, help_text="Weekly windows")


class CalendarSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The calendar's UUID")
    name = serializers.CharField(help_text="Unique in the team")
    ownerId = serializers.CharField(help_text="team:<slug>")
    description = serializers.CharField(help_text="Free text")
    holidays = HolidaysSerializer(many=True, help_text="Public holidays of each country")
    dates = serializers.ListField(child=serializers.CharField(), help_text="Days and inclusive ranges of days")
    windows = WindowSerializer(many=True, help_text="Weekly windows")
    summary = serializers.CharField(help_text="What the calendar holds, in words")
    jobs = serializers.ListField(child=serializers.CharField(), help_text="IDs of the jobs that use it")
    createdAt = serializers.DateTimeField(help_text="When it was created")
    updatedAt = serializers.DateTimeField(help_text="When it last changed")


class CalendarListSerializer(serializers.Serializer):
    calendars = CalendarSerializer(many=True, help_text="By name")


def calendar_item(calendar: Calendar, team: Team) -> dict[str, Any]:
    return {
        "id": str(calendar.pk),
        "name": calendar.name,
        "ownerId": f"team:{team.slug}",
        "description": calendar.description,
        "holidays": list(calendar.holidays or []),
        "dates": list(calendar.dates or []),
        "windows": list(calendar.windows or []),
        "summary": calendar_summary(calendar),
        "jobs": sorted({link.job.natural_id for link in calendar.job_links.all()}),
        "createdAt": iso(calendar.created_at),
        "updatedAt": iso(calendar.updated_at),
    }


def _found(team: Team, ref: str) -> Calendar:
    found = calendar_lookup(team, ref) if ref and len(ref) <= 100 else None
    if found is None:
        raise exceptions.NotFound(f"No calendar {ref!r} in team {team.slug!r}.")
    return found


def _fresh(calendar: Calendar) -> Calendar:
    return Calendar.objects.prefetch_related("job_links__job").get(pk=calendar.pk)


def _write(request: Request, team: Team, calendar: Calendar | None) -> Calendar:
    serializer = CalendarInputSerializer(data=request.data, partial=calendar is not None)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    fields = {name: data[name] for name in ("name", "description", "dates") if name in data}
    if "holidays" in data:
        fields["holidays"] = [dict(item) for item in data["holidays"]]
    if "windows" in data:
        fields["windows"] = [dict(item) for item in data["windows"]]
    actor = actor_from_request(request)
    try:
        return calendar_write(team=team, calendar=calendar, fields=fields, by=actor.user)
    except ValidationError as exc:
        raise ValidationError({key or "body": value for key, value in exc.message_dict.items()}) from exc


class TeamCalendarsView(TeamScopedView):
    required = {"GET": JOB_READ, "POST": JOB_EDIT}

    @extend_schema(
        operation_id="calendars_list",
        summary="The team's calendars (job:read)",
        tags=TAGS,
        parameters=[TEAM],
        responses={200: CalendarListSerializer, **problem_responses(403)},
    )
    def get(self, request: Request, team: str) -> Response:
        found = self.visible_team(request, team)
        calendars = Calendar.objects.filter(team=found).prefetch_related("job_links__job").order_by("name")
        return Response({"calendars": [calendar_item(calendar, found) for calendar in calendars]})

    @extend_schema(
        operation_id="calendars_create",
        summary="Create a calendar (job:edit)",
        tags=TAGS,
        parameters=[TEAM],
        request=CalendarInputSerializer,
        responses={201: CalendarSerializer, **problem_responses(400, 403, 413)},
    )
    def post(self, request: Request, team: str) -> Response:
        found = self.visible_team(request, team)
        calendar = _write(request, found, None)
        return Response(calendar_item(_fresh(calendar), found), status=status.HTTP_201_CREATED)


class TeamCalendarView(TeamScopedView):
    required = {"GET": JOB_READ, "PATCH": JOB_EDIT, "DELETE": JOB_EDIT}

    @extend_schema(
        operation_id="calendars_retrieve",
        summary="A calendar (job:read)",
        tags=TAGS,
        parameters=[TEAM, CALENDAR],
        responses={200: CalendarSerializer, **problem_responses(403)},
    )
    def get(self, request: Request, team: str, calendar: str) -> Response:
        found = self.visible_team(request, team)
        return Response(calendar_item(_fresh(_found(found, calendar)), found))

    @extend_schema(
        operation_id="calendars_partial_update",
        summary="Change a calendar (job:edit); its jobs follow it from their next slot",
        tags=TAGS,
        parameters=[TEAM, CALENDAR],
        request=CalendarInputSerializer(partial=True),
        responses={200: CalendarSerializer, **problem_responses(400, 403, 413)},
    )
    def patch(self, request: Request, team: str, calendar: str) -> Response:
        found = self.visible_team(request, team)
        changed = _write(request, found, _found(found, calendar))
        return Response(calendar_item(_fresh(changed), found))

    @extend_schema(
        operation_id="calendars_destroy",
        summary="Delete a calendar (job:edit); one still attached to jobs answers 409",
        tags=TAGS,
        parameters=[TEAM, CALENDAR],
        responses={204: None, **problem_responses(403, 409)},
    )
    def delete(self, request: Request, team: str, calendar: str) -> Response:
        actor = actor_from_request(request)
        found = self.visible_team(request, team)
        calendar_delete(calendar=_found(found, calendar), by=actor.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
