"""Alerting API, per team: channels (team:admin writes), rules (job:edit writes), incidents and deliveries
(job:read). An outsider gets 404 for the team, a member without the permission 403."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from alerts.api import serializers as s
from alerts.models import AlertRule, Channel, Delivery, Incident
from alerts.services import channel_create, channel_delete, channel_test, rule_delete, rule_save
from config.problems import problem_responses
from core.api import TeamScopedView
from jobs.access import actor_from_request
from jobs.models import Team
from jobs.roles import JOB_EDIT, JOB_READ, TEAM_ADMIN

TAGS = ["alerts"]
TEAM = OpenApiParameter("team", str, OpenApiParameter.PATH, description="Team slug")
ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The object's UUID")
LIMIT = OpenApiParameter("limit", int, description="At most this many, newest first (1-200, default 50)")
STATUS = OpenApiParameter("status", str, description="Only this status")
JOB = OpenApiParameter("job", str, description="Only this job (UUID)")
INCIDENT = OpenApiParameter("incident", str, description="Only this incident (UUID)")


def _one(queryset: QuerySet, pk: str, what: str) -> Any:
    try:
        found = queryset.filter(pk=uuid.UUID(pk)).first()
    except ValueError:
        found = None
    if found is None:
        raise exceptions.NotFound(f"No {what} {pk!r}.")
    return found


def _api_errors(exc: ValidationError) -> ValidationError:
    messages = getattr(exc, "message_dict", {"": exc.messages})
    return ValidationError({s.API_NAMES.get(key, key): value for key, value in messages.items()})


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 200:
        raise ValidationError({"limit": ["A whole number from 1 to 200."]})
    return int(raw)


def _uuid_param(request: Request, name: str) -> uuid.UUID | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationError({name: ["A UUID."]}) from None


class ChannelsView(TeamScopedView):
    required = {"GET": JOB_READ, "POST": TEAM_ADMIN}

    @extend_schema(
        operation_id="channels_list",
        summary="The team's alert channels, URLs redacted (job:read)",
        tags=TAGS,
        parameters=[TEAM],
        responses={200: s.ChannelListSerializer, **problem_responses(403)},
    )
    def get(self, request: Request, team: str) -> Response:
        found = self.visible_team(request, team)
        return Response({"channels": [s.channel_item(c) for c in Channel.objects.filter(team=found)]})

    @extend_schema(
        operation_id="channels_create",
        summary="Add a channel (team:admin): an Apprise URL, sealed at rest and never shown again",
        tags=TAGS,
        parameters=[TEAM],
        request=s.ChannelCreateSerializer,
        responses={201: s.ChannelSerializer, **problem_responses(400, 403, 413)},
    )
    def post(self, request: Request, team: str) -> Response:
        actor = actor_from_request(request)
        found = self.visible_team(request, team)
        serializer = s.ChannelCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            channel = channel_create(
                team=found, name=data["name"], url=data["url"], min_severity=data["minSeverity"], by=actor.user
            )
        except ValidationError as exc:
            raise _api_errors(exc) from exc
        return Response(s.channel_item(channel), status=status.HTTP_201_CREATED)


class ChannelView(TeamScopedView):
    required = {"GET": JOB_READ, "DELETE": TEAM_ADMIN}

    @extend_schema(
        operation_id="channels_retrieve",
        summary="One channel, URL redacted (job:read)",
        tags=TAGS,
        parameters=[TEAM, ID],
        responses={200: s.ChannelSerializer, **problem_responses(403)},
    )
    def get(self, request: Request, team: str, id: str) -> Response:
        found = self.visible_team(request, team)
        return Response(s.channel_item(_one(Channel.objects.filter(team=found), id, "channel")))

    @extend_schema(
        operation_id="channels_destroy",
        summary="Delete a channel (team:admin); its deliveries stay in the log",
        tags=TAGS,
        parameters=[TEAM, ID],
        responses={204: None, **problem_responses(403)},
    )
    def delete(self, request: Request, team: str, id: str) -> Response:
        found = self.visible_team(request, team)
        channel_delete(channel=_one(Channel.objects.filter(team=found), id, "channel"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelTestView(TeamScopedView):
    required = {"POST": TEAM_ADMIN}

    @extend_schema(
        operation_id="channels_test",
        summary="Send a test alert now (team:admin) and answer with its delivery: delivered, or failed and why",
        tags=TAGS,
        parameters=[TEAM, ID],
        request=None,
        responses={200: s.DeliverySerializer, **problem_responses(403)},
    )
    def post(self, request: Request, team: str, id: str) -> Response:
        actor = actor_from_request(request)
        found = self.visible_team(request, team)
        channel = _one(Channel.objects.filter(team=found).select_related("team"), id, "channel")
        return Response(s.delivery_item(channel_test(channel=channel, by=actor.user)))


def _rules(team: Team) -> QuerySet:
    return AlertRule.objects.filter(team=team).prefetch_related("channels")


class RulesView(TeamScopedView):
    required = {"GET": JOB_READ, "POST": JOB_EDIT}

    @extend_schema(
        operation_id="alert_rules_list",
        summary="The team's alert rules: per job, and team defaults (job null) (job:read)",
        tags=TAGS,
        parameters=[TEAM],
        responses={200: s.RuleListSerializer, **problem_responses(403)},
    )
    def get(self, request: Request, team: str) -> Response:
        found = self.visible_team(request, team)
        return Response({"rules": [s.rule_item(rule) for rule in _rules(found)]})

    @extend_schema(
        operation_id="alert_rules_create",
        summary="Add a rule (job:edit)",
        tags=TAGS,
        parameters=[TEAM],
        request=s.RuleWriteSerializer,
        responses={201: s.RuleSerializer, **problem_responses(400, 403, 413)},
    )
    def post(self, request: Request, team: str) -> Response:
        found = self.visible_team(request, team)
        serializer = s.RuleWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            rule = rule_save(team=found, data=s.rule_data(serializer.validated_data))
        except ValidationError as exc:
            raise _api_errors(exc) from exc
        return Response(s.rule_item(rule), status=status.HTTP_201_CREATED)


class RuleView(TeamScopedView):
    required = {"GET": JOB_READ, "PATCH": JOB_EDIT, "DELETE": JOB_EDIT}

    @extend_schema(
        operation_id="alert_rules_retrieve",
        summary="One rule (job:read)",
        tags=TAGS,
        parameters=[TEAM, ID],
        responses={200: s.RuleSerializer, **problem_responses(403)},
    )
    def get(self, request: Request, team: str, id: str) -> Response:
        found = self.visible_team(request, team)
        return Response(s.rule_item(_one(_rules(found), id, "rule")))

    @extend_schema(
        operation_id="alert_rules_partial_update",
        summary="Change a rule (job:edit): only the fields sent change",
        tags=TAGS,
        parameters=[TEAM, ID],
        request=s.RuleWriteSerializer,
        responses={200: s.RuleSerializer, **problem_responses(400, 403, 413)},
    )
    def patch(self, request: Request, team: str, id: str) -> Response:
        found = self.visible_team(request, team)
        rule = _one(_rules(found), id, "rule")
        serializer = s.RuleWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            rule = rule_save(team=found, data=s.rule_data(serializer.validated_data), rule=rule)
        except ValidationError as exc:
            raise _api_errors(exc) from exc
        return Response(s.rule_item(_one(_rules(found), str(rule.pk), "rule")))

    @extend_schema(
        operation_id="alert_rules_destroy",
        summary="Delete a rule (job:edit)",
        tags=TAGS,
        parameters=[TEAM, ID],
        responses={204: None, **problem_responses(403)},
    )
    def delete(self, request: Request, team: str, id: str) -> Response:
        found = self.visible_team(request, team)
        rule_delete(rule=_one(_rules(found), id, "rule"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class IncidentsView(TeamScopedView):
    required = {"GET": JOB_READ}

    @extend_schema(
        operation_id="incidents_list",
        summary="The team's incidents, newest first (job:read)",
        tags=TAGS,
        parameters=[TEAM, STATUS, JOB, LIMIT],
        responses={200: s.IncidentListSerializer, **problem_responses(400, 403)},
    )
    def get(self, request: Request, team: str) -> Response:
        found = self.visible_team(request, team)
        incidents = Incident.objects.filter(team=found).select_related("job")
        if request.query_params.get("status"):
            incidents = incidents.filter(status=request.query_params["status"])
        if (job := _uuid_param(request, "job")) is not None:
            incidents = incidents.filter(job_id=job)
        return Response({"incidents": [s.incident_item(i) for i in incidents[: _limit(request)]]})


class IncidentView(TeamScopedView):
    required = {"GET": JOB_READ}

    @extend_schema(
        operation_id="incidents_retrieve",
        summary="One incident with its deliveries (job:read)",
        tags=TAGS,
        parameters=[TEAM, ID],
        responses={200: s.IncidentDetailSerializer, **problem_responses(403)},
    )
    def get(self, request: Request, team: str, id: str) -> Response:
        found = self.visible_team(request, team)
        incident = _one(Incident.objects.filter(team=found).select_related("job"), id, "incident")
        deliveries = [s.delivery_item(d) for d in incident.deliveries.all()]
        return Response({**s.incident_item(incident), "deliveries": deliveries})


class DeliveriesView(TeamScopedView):
    required = {"GET": JOB_READ}

    @extend_schema(
        operation_id="deliveries_list",
        summary="The delivery log: every alert attempt, newest first (job:read)",
        tags=TAGS,
        parameters=[TEAM, STATUS, JOB, INCIDENT, LIMIT],
        responses={200: s.DeliveryListSerializer, **problem_responses(400, 403)},
    )
    def get(self, request: Request, team: str) -> Response:
        found = self.visible_team(request, team)
        deliveries = Delivery.objects.filter(team=found)
        if request.query_params.get("status"):
            deliveries = deliveries.filter(status=request.query_params["status"])
        if (job := _uuid_param(request, "job")) is not None:
            deliveries = deliveries.filter(job_id=job)
        if (incident := _uuid_param(request, "incident")) is not None:
            deliveries = deliveries.filter(incident_id=incident)
        return Response({"deliveries": [s.delivery_item(d) for d in deliveries[: _limit(request)]]})
