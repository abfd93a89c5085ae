"""GET /api/audit: the audit log of the teams where the caller is an admin, filtered and paged like history."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import problem_responses
from core.api import TeamScopedView
from core.docs import query_param
from core.params import DEFAULT_LIMIT, MAX_LIMIT, Gathered, hal_list, offset_links, query_int
from core.times import iso
from jobs.access import actor_from_request
from jobs.models import AuditEntry
from jobs.roles import TEAM_ADMIN
from jobs.selectors import audit_list

AUDIT_REL = "hg:audit"


def audit_item(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "ownerId": f"team:{entry.team.slug}",
        "createdAt": iso(entry.created_at),
        "actor": entry.actor_label,
        "actorKind": "key" if entry.actor_label.startswith("key:") else ("user" if entry.actor_user_id else "system"),
        "action": entry.action,
        "targetType": entry.target_type,
        "targetId": entry.target_id,
        "targetLabel": entry.target_label,
        "details": entry.details,
        "ipAddress": entry.ip_address,
    }


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ownerId = serializers.CharField()
    createdAt = serializers.DateTimeField()
    actor = serializers.CharField(help_text="A username, key:<prefix>, or system")
    actorKind = serializers.ChoiceField(choices=["user", "key", "system"])
    action = serializers.ChoiceField(choices=AuditEntry.Action.values)
    targetType = serializers.CharField()
    targetId = serializers.CharField()
    targetLabel = serializers.CharField()
    details = serializers.DictField()
    ipAddress = serializers.IPAddressField(allow_null=True)


class AuditListSerializer(serializers.Serializer):
    _links = serializers.DictField()
    _embedded = serializers.DictField(child=AuditEntrySerializer(many=True))
    start = serializers.IntegerField()
    count = serializers.IntegerField()
    total = serializers.IntegerField()


class AuditListView(TeamScopedView):
    required_in_some_team = {"GET": TEAM_ADMIN}

    @extend_schema(
        operation_id="audit_list",
        summary="The audit log of the teams where the caller is an admin (team:admin), newest first",
        tags=["audit"],
        parameters=[
            OpenApiParameter("action", str, enum=AuditEntry.Action.values),
            query_param("actor", {"type": "string", "maxLength": 200}, "A username, or key:<prefix>"),
            query_param("team", {"type": "string", "maxLength": 64}, "Team slug"),
            query_param("since", {"type": "string", "format": "date-time"}, "ISO 8601 time (inclusive)"),
            query_param("until", {"type": "string", "format": "date-time"}, "ISO 8601 time (exclusive)"),
            query_param("start", {"type": "integer", "minimum": 0, "maximum": 2_000_000_000, "default": 0}, "Offset"),
            query_param(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                f"1–{MAX_LIMIT}, default {DEFAULT_LIMIT}",
            ),
        ],
        responses={200: AuditListSerializer, **problem_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        actor = actor_from_request(request)
        params, gather = request.query_params, Gathered()
        limit = gather(query_int, params, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        start = gather(query_int, params, "start", default=0, low=0, high=2_000_000_000)
        entries = gather(audit_list, actor=actor, filters=params)
        gather.check()
        total = entries.count()
        page = list(entries[start : start + limit + 1])
        next_href, prev_href = offset_links(request, start=start, limit=limit, has_next=len(page) > limit)
        items = [audit_item(entry) for entry in page[:limit]]
        return Response(
            hal_list(
                request, rel=AUDIT_REL, items=items, start=start, total=total, next_href=next_href, prev_href=prev_href
            )
        )
