"""API keys of a team (team:admin): list, create (the key is shown once), revoke."""

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
from jobs.auth import PREFIX_RE
from jobs.models import ApiKey
from jobs.roles import PERMISSIONS, SCOPE_ALIASES, TEAM_ADMIN
from jobs.services import apikey_create, apikey_revoke

TAGS = ["keys"]
TEAM = OpenApiParameter("team", str, OpenApiParameter.PATH, description="Team slug")
PREFIX = OpenApiParameter("prefix", str, OpenApiParameter.PATH, description="The key's visible prefix")


def key_item(key: ApiKey) -> dict[str, Any]:
    return {
        "prefix": key.prefix,
        "name": key.name,
        "ownerId": f"team:{key.team.slug}",
        "scopes": list(key.scopes),
        "createdBy": key.created_by.get_username() if key.created_by else None,
        "createdAt": iso(key.created_at),
        "lastUsedAt": iso(key.last_used_at),
        "expiresAt": iso(key.expires_at),
        "revokedAt": iso(key.revoked_at),
    }


class ApiKeySerializer(serializers.Serializer):
    prefix = serializers.CharField()
    name = serializers.CharField()
    ownerId = serializers.CharField(help_text="team:<slug>")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=PERMISSIONS))
    createdBy = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    lastUsedAt = serializers.DateTimeField(allow_null=True)
    expiresAt = serializers.DateTimeField(allow_null=True)
    revokedAt = serializers.DateTimeField(allow_null=True)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The secret key; shown only in this answer")


class ApiKeyCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=[*PERMISSIONS, *SCOPE_ALIASES]), min_length=1, max_length=10
    )
    expiresAt = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyListSerializer(serializers.Serializer):
    keys = ApiKeySerializer(many=True)


class TeamKeysView(TeamScopedView):
    required = {"GET": TEAM_ADMIN, "POST": TEAM_ADMIN}

    @extend_schema(
        operation_id="keys_list",
        summary="The team's API keys, revoked ones included (team:admin)",
        tags=TAGS,
        parameters=[TEAM],
        responses={200: ApiKeyListSerializer, **problem_responses(403)},
    )
    def get(self, request: Request, team: str) -> Response:
        found = self.visible_team(request, team)
        keys = ApiKey.objects.filter(team=found).select_related("team", "created_by")
        return Response({"keys": [key_item(key) for key in keys]})

    @extend_schema(
        operation_id="keys_create",
        summary="Create a key (team:admin); its scopes may not exceed yours. The key is shown once",
        tags=TAGS,
        parameters=[TEAM],
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyCreatedSerializer, **problem_responses(400, 403, 413)},
    )
    def post(self, request: Request, team: str) -> Response:
        actor = actor_from_request(request)
        found = self.visible_team(request, team)
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            key, raw = apikey_create(
                team=found,
                name=data["name"],
                scopes=data["scopes"],
                created_by=actor.user,
                expires_at=data.get("expiresAt"),
                bound=actor.permissions[found.pk],
            )
        except ValidationError as exc:
            messages = getattr(exc, "message_dict", {"": exc.messages})
            raise ValidationError({"expiresAt" if k == "expires_at" else k: v for k, v in messages.items()}) from exc
        return Response({**key_item(key), "key": raw}, status=status.HTTP_201_CREATED)


class TeamKeyView(TeamScopedView):
    required = {"DELETE": TEAM_ADMIN}

    @extend_schema(
        operation_id="keys_revoke",
        summary="Revoke a key (team:admin); it answers 401 from then on",
        tags=TAGS,
        parameters=[TEAM, PREFIX],
        responses={204: None, **problem_responses(403)},
    )
    def delete(self, request: Request, team: str, prefix: str) -> Response:
        actor = actor_from_request(request)
        found = self.visible_team(request, team)
        key = ApiKey.objects.filter(team=found, prefix=prefix).first() if PREFIX_RE.match(prefix) else None
        if key is None:
            raise exceptions.NotFound(f"No key {prefix!r} in team {found.slug!r}.")
        apikey_revoke(key=key, by=actor.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
