"""A team's signing secret (team:admin): read it, rotate it. Each read and rotation is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import problem_responses
from core.api import TeamScopedView
from core.times import iso
from jobs.access import actor_from_request
from jobs.engine.signing import HEADER
from jobs.roles import TEAM_ADMIN
from jobs.signing_secrets import (
    SIGNING_GRACE_DEFAULT,
    SIGNING_GRACE_MAX,
    SigningSecrets,
    signing_secret_reveal,
    signing_secret_rotate,
)

TAGS = ["signing"]
TEAM = OpenApiParameter("team", str, OpenApiParameter.PATH, description="Team slug")


class PreviousSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The secret before the last rotation; it still signs until expiresAt")
    expiresAt = serializers.DateTimeField(
        allow_null=True, help_text="When it stops signing (null: at the next rotation)"
    )


class SigningSecretSerializer(serializers.Serializer):
    header = serializers.CharField(help_text=f"The request header that carries the signatures ({HEADER})")
    secret = serializers.CharField(help_text="The current secret: every request is signed with it")
    previous = PreviousSecretSerializer(allow_null=True, help_text="Set during a rotation's grace period")


class RotateSerializer(serializers.Serializer):
    graceSeconds = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=int(SIGNING_GRACE_MAX.total_seconds()),
        default=int(SIGNING_GRACE_DEFAULT.total_seconds()),
        help_text="How long the current secret keeps signing beside the new one (0: it stops at once)",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data or {}) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return attrs


def secret_item(secrets: SigningSecrets) -> dict[str, Any]:
    previous = {"secret": secrets.previous, "expiresAt": iso(secrets.previous_expires_at)} if secrets.previous else None
    return {"header": HEADER, "secret": secrets.current, "previous": previous}


def _no_store(response: Response) -> Response:
    response["Cache-Control"] = "no-store"  # a secret: no cache may keep a copy
    return response


class SigningSecretView(TeamScopedView):
    required = {"GET": TEAM_ADMIN}

    @extend_schema(
        operation_id="signing_secret_retrieve",
        summary="The team's signing secret, to verify the Hourglass-Signature header (team:admin; audited)",
        tags=TAGS,
        parameters=[TEAM],
        responses={200: SigningSecretSerializer, **problem_responses(403)},
    )
    def get(self, request: Request, team: str) -> Response:
        actor = actor_from_request(request)
        found = self.visible_team(request, team)
        return _no_store(Response(secret_item(signing_secret_reveal(team=found, by=actor.user))))


class SigningSecretRotateView(TeamScopedView):
    required = {"POST": TEAM_ADMIN}

    @extend_schema(
        operation_id="signing_secret_rotate",
        summary="Replace the signing secret; the old one keeps signing for graceSeconds (team:admin; audited)",
        tags=TAGS,
        parameters=[TEAM],
        request=RotateSerializer,
        responses={200: SigningSecretSerializer, **problem_responses(400, 403)},
    )
    def post(self, request: Request, team: str) -> Response:
        actor = actor_from_request(request)
        found = self.visible_team(request, team)
        serializer = RotateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        grace = timedelta(seconds=serializer.validated_data["graceSeconds"])
        try:
            secrets = signing_secret_rotate(team=found, by=actor.user, grace=grace)
        except ValidationError as exc:
            raise ValidationError({"graceSeconds": exc.messages}) from exc
        return _no_store(Response(secret_item(secrets)))
