"""The job's `anomaly` group: its thresholds (null: the default) and the thresholds in force."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.strict import StrictSerializer
from jobs.anomaly_fields import JSON_FIELD_MAX, MAX_WINDOW
from jobs.engine.anomaly import rule_for_job
from jobs.models import Job
from jobs.write import FIELDS


class AnomalyInForceSerializer(serializers.Serializer):
    window = serializers.IntegerField(help_text="Successful runs learned from")
    minSamples = serializers.IntegerField(help_text="Successful runs learned before a warning")
    durationK = serializers.FloatField(help_text="The band is median ± k·MAD; 0: the duration check is off")
    sizeFactor = serializers.FloatField(help_text="0: the size check is off")
    jsonField = serializers.CharField(allow_blank=True, help_text="The JSON field whose type is watched; empty: none")
    durationFloorMs = serializers.IntegerField(help_text="The band is never narrower than this either side")
    sizeFloorBytes = serializers.IntegerField(help_text="A size change smaller than this never warns")


def in_force(job: Job) -> dict[str, Any]:
    rule = rule_for_job(job)
    return {
        "window": rule.window,
        "minSamples": rule.min_samples,
        "durationK": rule.duration_k,
        "sizeFactor": rule.size_factor,
        "jsonField": rule.json_field,
        "durationFloorMs": int(getattr(settings, "HOURGLASS_ANOMALY_DURATION_FLOOR_MS", 100)),
        "sizeFloorBytes": int(getattr(settings, "HOURGLASS_ANOMALY_SIZE_FLOOR_BYTES", 64)),
    }


def _threshold(field: type[serializers.IntegerField | serializers.FloatField], name: str, low: int, high: int) -> Any:
    """An optional threshold of the job's (null: the server's default), bounded as jobs.write checks it."""
    return field(
        source=name,
        required=False,
        allow_null=True,
        min_value=low,
        max_value=high,
        help_text=FIELDS[name].help + " Null: the default.",
    )


class AnomalySerializer(StrictSerializer):
    """Types only: the rules (a parseable JSON field, the minimum within the window) are jobs.write's."""

    window = _threshold(serializers.IntegerField, "anomaly_window", 3, MAX_WINDOW)
    minSamples = _threshold(serializers.IntegerField, "anomaly_min_samples", 2, MAX_WINDOW)
    durationK = _threshold(serializers.FloatField, "anomaly_duration_k", 0, 100)
    sizeFactor = _threshold(serializers.FloatField, "anomaly_size_factor", 0, 1_000_000)
    jsonField = serializers.CharField(
        source="anomaly_json_field",
        required=False,
        allow_blank=True,
        max_length=JSON_FIELD_MAX,
        trim_whitespace=False,
        help_text=FIELDS["anomaly_json_field"].help + " Empty: no JSON check.",
    )
    inForce = serializers.SerializerMethodField(
        help_text="The thresholds the checks use: the job's, else the server's defaults."
    )

    @extend_schema_field(AnomalyInForceSerializer)
    def get_inForce(self, job: Job) -> dict[str, Any]:
        return in_force(job)
