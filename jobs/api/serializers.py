"""The job resource in camelCase, both ways; nested groups map onto flat Job fields via source="*"."""

from __future__ import annotations

import re
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs import steps as step_rules
from jobs.models import NATURAL_ID_RE, Job
from jobs.redact import redact_headers
from jobs.success import parse_statuses


class ScheduleSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(source="schedule_kind", choices=Job.Kind.choices)
    expression = serializers.CharField(
        source="cron_expression", required=False, allow_blank=True, max_length=200, help_text="5-field cron"
    )
    timezone = serializers.CharField(required=False, max_length=64, help_text="IANA name; cron only")
    seconds = serializers.IntegerField(source="interval_seconds", required=False, allow_null=True, min_value=1)
    at = serializers.DateTimeField(
        source="run_at", required=False, allow_null=True, help_text="One-off time, or an interval's start"
    )
    description = serializers.CharField(source="schedule_text", read_only=True)


class RetrySerializer(serializers.Serializer):
    limit = serializers.IntegerField(source="retry_limit", required=False, min_value=0, max_value=100)
    backoff = serializers.ChoiceField(source="backoff_strategy", required=False, choices=Job.Backoff.choices)
    baseSeconds = serializers.IntegerField(  # noqa: N815
        source="backoff_base_seconds", required=False, min_value=0, max_value=86400
    )


def _statuses(value: str) -> str:
    try:
        parse_statuses(value)
    except ValueError as exc:
        raise serializers.ValidationError(str(exc)) from exc
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise serializers.ValidationError(f"Invalid regular expression: {exc}") from exc
    return value


class SuccessRuleSerializer(serializers.Serializer):
    statuses = serializers.CharField(
        source="success_statuses", required=False, max_length=200, validators=[_statuses], help_text="e.g. 200-299,304"
    )
    bodyContains = serializers.CharField(  # noqa: N815
        source="success_body_contains", required=False, allow_blank=True, max_length=500
    )
    bodyRegex = serializers.CharField(  # noqa: N815
        source="success_body_regex", required=False, allow_blank=True, max_length=500, validators=[_regex]
    )
    maxLatencyMs = serializers.IntegerField(  # noqa: N815
        source="success_max_latency_ms", required=False, allow_null=True, min_value=1, max_value=2_147_483_647
    )
    followRedirects = serializers.BooleanField(source="follow_redirects", required=False)  # noqa: N815


class RetentionSerializer(serializers.Serializer):
    keepRuns = serializers.IntegerField(source="keep_runs", required=False, min_value=1, max_value=1_000_000)  # noqa: N815
    keepDays = serializers.IntegerField(  # noqa: N815
        source="keep_days", required=False, allow_null=True, min_value=1, max_value=36500
    )
    keepFailedDays = serializers.IntegerField(  # noqa: N815
        source="keep_failed_days", required=False, allow_null=True, min_value=1, max_value=36500
    )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class JsonObjectField(serializers.DictField):
    """Free-form JSON object; NUL characters are refused, as PostgreSQL's jsonb cannot store them."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        if _has_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        return value


class HeadersField(serializers.DictField):
    # Header values keep their whitespace: trimming would hide a CR/LF that must be rejected.
    child = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=8192)


class StepConfigSerializer(serializers.Serializer):
    """http/webhook: method, url, headers, body, timeoutMs; email: recipients, subject, body."""

    method = serializers.ChoiceField(choices=step_rules.HTTP_METHODS, required=False)
    url = serializers.CharField(required=False, max_length=2000, trim_whitespace=False)
    headers = HeadersField(required=False)
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=1_000_000)
    timeoutMs = serializers.IntegerField(  # noqa: N815
        source="timeout_ms", required=False, min_value=1, max_value=step_rules.MAX_TIMEOUT_MS
    )
    recipients = serializers.ListField(child=serializers.CharField(max_length=254), required=False)
    subject = serializers.CharField(required=False, allow_blank=True, max_length=500)
    afterFailures = serializers.IntegerField(source="after_failures", required=False, min_value=1)  # noqa: N815
    onRecovery = serializers.BooleanField(source="on_recovery", required=False)  # noqa: N815


class StepSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[a-zA-Z0-9._-]{1,100}$", required=False)
    kind = serializers.ChoiceField(choices=step_rules.STEP_KINDS, required=False, default="http")
    dependsOn = serializers.ListField(  # noqa: N815
        source="depends_on", child=serializers.CharField(max_length=100), required=False
    )
    runIf = serializers.ChoiceField(source="run_if", choices=step_rules.RUN_IF, required=False)  # noqa: N815
    config = StepConfigSerializer(required=False)


class RequestSerializer(serializers.Serializer):
    """The one-step shortcut: a single HTTP request."""

    method = serializers.ChoiceField(choices=step_rules.HTTP_METHODS, required=False, default="GET")
    url = serializers.CharField(max_length=2000, trim_whitespace=False)
    headers = HeadersField(required=False)
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=1_000_000)
    timeoutMs = serializers.IntegerField(  # noqa: N815
        source="timeout_ms", required=False, min_value=1, max_value=step_rules.MAX_TIMEOUT_MS
    )


class LinkSerializer(serializers.Serializer):
    href = serializers.CharField()


class JobLinksSerializer(serializers.Serializer):
    self = LinkSerializer()
    history = LinkSerializer()


class JobSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    naturalId = serializers.RegexField(NATURAL_ID_RE, source="natural_id", max_length=100)  # noqa: N815
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    ownerId = serializers.SerializerMethodField()  # noqa: N815
    team = serializers.SlugField(write_only=True, required=False, help_text="Team slug; needed if you are in several")
    enabled = serializers.BooleanField(required=False)
    schedule = ScheduleSerializer(source="*")
    nextRunAt = serializers.DateTimeField(source="next_run_at", read_only=True, allow_null=True)  # noqa: N815
    request = RequestSerializer(write_only=True, required=False, help_text="Shortcut for a one-request job")
    steps = StepSerializer(many=True, required=False)
    notify = StepSerializer(many=True, write_only=True, required=False, help_text="Email/webhook steps to add")
    retry = RetrySerializer(source="*", required=False)
    overlapPolicy = serializers.ChoiceField(  # noqa: N815
        source="overlap_policy", choices=Job.Overlap.choices, required=False
    )
    misfireGraceSeconds = serializers.IntegerField(  # noqa: N815
        source="misfire_grace_seconds", required=False, min_value=0, max_value=2_147_483_647
    )
    successRule = SuccessRuleSerializer(source="*", required=False)  # noqa: N815
    retention = RetentionSerializer(source="*", required=False)
    variables = JsonObjectField(required=False)
    secretHeaders = serializers.ListField(  # noqa: N815
        source="secret_headers", child=serializers.CharField(max_length=100), required=False
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)  # noqa: N815
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)  # noqa: N815
    _links = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(help_text="team:<slug>"))
    def get_ownerId(self, job: Job) -> str:  # noqa: N802
        return f"team:{job.team.slug}"

    @extend_schema_field(JobLinksSerializer)
    def get__links(self, job: Job) -> dict[str, dict[str, str]]:
        return {
            "self": {"href": reverse("api:job-detail", args=[job.pk])},
            "history": {"href": reverse("api:job-history", args=[job.pk])},
        }

    def to_representation(self, job: Job) -> dict[str, Any]:
        data = super().to_representation(job)
        # Secrets in the stored headers are never shown; a PATCH that sends the marker back keeps them.
        for step in data.get("steps") or []:
            headers = (step.get("config") or {}).get("headers")
            if headers:
                step["config"]["headers"] = redact_headers(headers, job.secret_headers or ())
        return data
