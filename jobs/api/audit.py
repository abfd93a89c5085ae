"""GET /api/audit: the audit log of the teams where the caller is an admin, filtered and paged like history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.problems import problem_responses
from core.docs import query_param
from core.params import DEFAULT_LIMIT, MAX_LIMIT, Gathered, hal_list, offset_links, query_int
from core.times import iso
from history.selectors import UtcDateTimeFilter, empty_filters
from jobs.access import Actor, actor_from_request, require_any
from jobs.models import AuditEntry
from jobs.roles import TEAM_ADMIN

AUDIT_REL = "hg:audit"


class AuditFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=AuditEntry.Action.choices)
    actor = django_filters.CharFilter(method="filter_actor", max_length=200)
    team = django_filters.CharFilter(field_name="team__slug", max_length=64)
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def filter_actor(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """A username, or a key as `key:<prefix>` or its bare prefix."""
        return queryset.filter(Q(actor_label=value) | Q(actor_label=f"key:{value}"))


def audit_list(*, actor: Actor, filters: Mapping[str, Any] | None = None) -> QuerySet[AuditEntry]:
    """Entries of the teams where the caller holds team:admin; ValidationError on bad filters."""
    queryset = AuditEntry.objects.filter(team_id__in=actor.team_ids_with(TEAM_ADMIN)).select_related("team")
    empty = empty_filters(filters or {}, ("action", "since", "until"))  # a time or a choice given empty
    if empty:
        raise ValidationError(empty)
    filterset = AuditFilter(data=filters or {}, queryset=queryset)  # type: ignore[arg-type]  # any Mapping works
    if not filterset.is_valid():
        raise ValidationError({name: [str(m) for m in messages] for name, messages in filterset.errors.items()})
    return filterset.qs.order_by("-created_at", "-id")


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


class AuditListView(APIView):
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
        require_any(actor, TEAM_ADMIN)
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
