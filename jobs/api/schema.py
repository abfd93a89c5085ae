"""OpenAPI shapes of the jobs endpoints' answers that are built as plain dicts."""

from __future__ import annotations

from rest_framework import serializers

from core.docs import ListLinksSerializer, query_param
from jobs.api.serializers import JobSerializer

_SORTS = [prefix + name for name in ("name", "naturalId", "createdAt", "nextRunAt") for prefix in ("", "-")]
JOB_LIST_PARAMS = [
    query_param("q", {"type": "string", "maxLength": 200}, "Search the natural ID and the name"),
    query_param("team", {"type": "string", "maxLength": 64}, "Only this team (slug)"),
    query_param("sort", {"type": "string", "enum": _SORTS, "default": "name"}, "Sort field, '-' for descending"),
    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 30}, "Results per page"),
    query_param("start", {"type": "integer", "minimum": 0, "maximum": 2_000_000_000, "default": 0}, "Offset"),
]
COUNT_PARAM = query_param("count", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, "How many")


class JobEmbeddedSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {"inf:job": JobSerializer(many=True)}


class JobListSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "_links": ListLinksSerializer(),
            "_embedded": JobEmbeddedSerializer(),
            "start": serializers.IntegerField(),
            "count": serializers.IntegerField(),
            "total": serializers.IntegerField(),
        }


class SlotSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="The slot, in UTC.")
    removedBy = serializers.CharField(
        allow_null=True,
        help_text="calendar:<name> when one of the job's calendars removes the slot; null when it fires.",
    )


class FireTimesSerializer(serializers.Serializer):
    jobId = serializers.UUIDField()
    enabled = serializers.BooleanField()
    description = serializers.CharField()
    timezone = serializers.CharField()
    fireTimes = serializers.ListField(
        child=serializers.DateTimeField(), help_text="The slots among the next `count` that fire."
    )
    slots = SlotSerializer(many=True, help_text="The next `count` slots of the schedule, removed ones marked.")
    nextFireAt = serializers.DateTimeField(
        allow_null=True, help_text="The first slot that fires, looking up to 2,000 slots ahead; null if none."
    )
    after = serializers.ListField(
        child=serializers.DictField(),
        help_text="The jobs whose outcome also starts this one ([{job, on}]); their runs are not in fireTimes.",
    )
