"""Informer's job-history item (seed 000): the seed's fields first, in its order, then ours.

Rendering is a plain function, because export streams hundreds of thousands of rows and a DRF
serializer per row would dominate the cost. The Serializer classes below describe the same shape
for the OpenAPI schema; the contract tests and schemathesis hold the two together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers

from history.models import Run, RunStep
from jobs.api.serializers import JsonObjectField
from jobs.redact import redact_request

# RunStep status → Informer's result status (success|error|warning).
PROGRESS_STATUS = {RunStep.Status.DONE: "success", RunStep.Status.ERROR: "error"}
RESULT_KEYS = {RunStep.Status.DONE: "success", RunStep.Status.ERROR: "error"}


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def progress_entry(step: RunStep) -> dict[str, Any]:
    return {
        "task": {"key": step.key, "opts": {"name": step.name, **(step.opts or {})}},
        "result": {
            "key": step.result_key or f"job:status.{RESULT_KEYS.get(step.status, step.status)}",
            "success": step.status == RunStep.Status.DONE,
            "status": PROGRESS_STATUS.get(step.status, "warning"),
            "message": step.message or step.error or None,
        },
    }


def run_item(run: Run, *, with_progress: bool = True) -> dict[str, Any]:
    """One run as Informer shows it. Needs with_details() (team, user, steps) to stay at constant queries."""
    item: dict[str, Any] = {
        "id": str(run.pk),
        "jobId": str(run.job_id),
        "ownerId": f"team:{run.team.slug}",
        "success": run.success,
        "warnings": run.warnings,
        "duration": [iso(run.started_at), iso(run.finished_at)],
        "data": run.data or {},
        "progress": [progress_entry(step) for step in run.steps.all()] if with_progress else [],
        "createdAt": iso(run.created_at),
        # Ours, beside the seed's.
        "attempt": run.attempt,
        "retryOf": str(run.retry_of_id) if run.retry_of_id else None,
        "backoffLimit": run.backoff_limit,
        "triggeredBy": run.triggered_by,
        "user": run.triggered_by_user.get_username() if run.triggered_by_user else None,
        "scheduledFor": iso(run.scheduled_for),
        "latenessMs": run.lateness_ms,
        "status": run.status,
        "endReason": run.end_reason or None,
        "httpStatus": run.http_status,
        "responseBody": run.response_body,
        "error": run.error,
        "exitCode": run.exit_code,
        "variables": run.variables or {},
        # Stored redacted by the executor; redacted again so a rule added later also covers old rows.
        "request": redact_request(run.request) if run.request else {},
    }
    return item


# --- OpenAPI description of the same shapes ---------------------------------------------------


class TaskSerializer(serializers.Serializer):
    key = serializers.CharField()
    opts = serializers.DictField()


class ResultSerializer(serializers.Serializer):
    key = serializers.CharField()
    success = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["success", "error", "warning"])
    message = serializers.CharField(allow_null=True)


class ProgressSerializer(serializers.Serializer):
    task = TaskSerializer()
    result = ResultSerializer()


class HistoryItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    jobId = serializers.UUIDField()  # noqa: N815
    ownerId = serializers.CharField(help_text="team:<slug>")  # noqa: N815
    success = serializers.BooleanField()
    warnings = serializers.BooleanField()
    duration = serializers.ListField(
        child=serializers.DateTimeField(allow_null=True), min_length=2, max_length=2, help_text="[start, end]"
    )
    data = serializers.DictField()
    progress = ProgressSerializer(many=True)
    createdAt = serializers.DateTimeField()  # noqa: N815
    attempt = serializers.IntegerField()
    retryOf = serializers.UUIDField(allow_null=True)  # noqa: N815
    backoffLimit = serializers.IntegerField()  # noqa: N815
    triggeredBy = serializers.ChoiceField(choices=Run.Trigger.values)  # noqa: N815
    user = serializers.CharField(allow_null=True)
    scheduledFor = serializers.DateTimeField()  # noqa: N815
    latenessMs = serializers.IntegerField(allow_null=True)  # noqa: N815
    status = serializers.ChoiceField(choices=Run.Status.values)
    endReason = serializers.ChoiceField(choices=Run.EndReason.values, allow_null=True)  # noqa: N815
    httpStatus = serializers.IntegerField(allow_null=True)  # noqa: N815
    responseBody = serializers.CharField(allow_null=True)  # noqa: N815
    error = serializers.CharField(allow_null=True)
    exitCode = serializers.IntegerField(allow_null=True)  # noqa: N815
    variables = serializers.DictField()
    request = serializers.DictField(help_text="The request as sent; secret headers redacted")


class HrefSerializer(serializers.Serializer):
    href = serializers.CharField()


class ListLinksSerializer(serializers.Serializer):
    self = HrefSerializer()
    next = HrefSerializer(required=False)
    prev = HrefSerializer(required=False)


class HistoryEmbeddedSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {"inf:job-history": HistoryItemSerializer(many=True)}


class HistoryListSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "_links": ListLinksSerializer(),
            "_embedded": HistoryEmbeddedSerializer(),
            "start": serializers.IntegerField(),
            "count": serializers.IntegerField(),
            "total": serializers.IntegerField(),
            "totalIsEstimate": serializers.BooleanField(help_text="true when `total` is a lower bound (10,000)"),
        }


class TriggerSerializer(serializers.Serializer):
    variables = JsonObjectField(required=False, help_text="Values for {{ variables }} in this run only")


class DeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


class HistoryFilterSerializer(serializers.Serializer):
    """POST …/history/delete: the list filters, in the body."""

    status = serializers.ChoiceField(choices=Run.Status.values, required=False)
    endReason = serializers.ChoiceField(choices=Run.EndReason.values, required=False)  # noqa: N815
    triggeredBy = serializers.ChoiceField(choices=Run.Trigger.values, required=False)  # noqa: N815
    success = serializers.BooleanField(required=False)
    httpStatus = serializers.RegexField(r"^[1-5]([0-9]{2}|xx)$", required=False)  # noqa: N815
    createdAfter = serializers.DateTimeField(required=False)  # noqa: N815
    createdBefore = serializers.DateTimeField(required=False)  # noqa: N815
    attempt = serializers.IntegerField(required=False, min_value=1, max_value=32767)
    q = serializers.CharField(required=False, max_length=200)
