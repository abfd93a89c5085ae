"""The job's `anomaly` group: its thresholds (null: the default) and the thresholds in force."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.anomaly_fields import JSON_FIELD_MAX, MAX_WINDOW
from jobs.api.strict import StrictSerializer
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


class AnomalySerializer(StrictSerializer):
    """Types only: the rules (a parseable JSON field, the minimum within the window) are jobs.write's."""

    window = serializers.IntegerField(
        source="anomaly_window",
        required=False,
        allow_null=True,
        min_value=3,
        max_value=MAX_WINDOW,
        help_text=FIELDS["anomaly_window"].help + " Null: the default.",
    )
    minSamples = serializers.IntegerField(
        source="anomaly_min_samples",
        required=False,
        allow_null=True,
        min_value=2,
        max_value=MAX_WINDOW,
        help_text=FIELDS["anomaly_min_samples"].help + " Null: the default.",
    )
    durationK = serializers.FloatField(
        source="anomaly_duration_k",
        required=False,
        allow_null=True,
        min_value=0,
        max_value=100,
        help_text=FIELDS["anomaly_duration_k"].help + " Null: the default.",
    )
    sizeFactor = serializers.FloatField(
        source="anomaly_size_factor",
        required=False,
        allow_null=True,
        min_value=0,
        max_value=1_000_000,
        help_text=FIELDS["anomaly_size_factor"].help + " Null: the default.",
    )
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
