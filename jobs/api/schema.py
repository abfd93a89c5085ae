"""OpenAPI shapes of the jobs endpoints' answers that are built as plain dicts."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from history.api.serializers import ListLinksSerializer
from jobs.api.serializers import JobSerializer


def _query(name: str, schema: dict, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, required=False, description=description)


_SORTS = [prefix + name for name in ("name", "naturalId", "createdAt", "nextRunAt") for prefix in ("", "-")]
JOB_LIST_PARAMS = [
    _query("q", {"type": "string", "maxLength": 200}, "Search the natural ID and the name"),
    _query("team", {"type": "string", "maxLength": 64}, "Only this team (slug)"),
    _query("sort", {"type": "string", "enum": _SORTS, "default": "name"}, "Sort field, '-' for descending"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 30}, "Results per page"),
    _query("start", {"type": "integer", "minimum": 0, "maximum": 2_000_000_000, "default": 0}, "Offset"),
]
COUNT_PARAM = _query("count", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, "How many")
WINDOW_PARAM = _query("window", {"type": "string", "enum": ["24h", "7d", "30d"], "default": "24h"}, "Time window")


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


class FireTimesSerializer(serializers.Serializer):
    jobId = serializers.UUIDField()  # noqa: N815
    enabled = serializers.BooleanField()
    description = serializers.CharField()
    timezone = serializers.CharField()
    fireTimes = serializers.ListField(child=serializers.DateTimeField())  # noqa: N815


class DurationPercentilesSerializer(serializers.Serializer):
    p50 = serializers.IntegerField(allow_null=True)
    p95 = serializers.IntegerField(allow_null=True)
    p99 = serializers.IntegerField(allow_null=True)


class LatenessPercentilesSerializer(serializers.Serializer):
    p50 = serializers.IntegerField(allow_null=True)
    p99 = serializers.IntegerField(allow_null=True)


class StatsSerializer(serializers.Serializer):
    jobId = serializers.UUIDField()  # noqa: N815
    window = serializers.ChoiceField(choices=["24h", "7d", "30d"])
    since = serializers.DateTimeField()
    runs = serializers.IntegerField()
    ended = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    successRate = serializers.FloatField(allow_null=True, help_text="succeeded / ended, 0–1")  # noqa: N815
    durationMs = DurationPercentilesSerializer()  # noqa: N815
    latenessMs = LatenessPercentilesSerializer()  # noqa: N815
    lastSuccessAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    lastFailureAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
