"""Informer's job-history item (seed 000): the seed's fields first, in its order, then ours.

An item is rendered from a plain row (history.rows), because pages and exports render many and
a model instance and a DRF serializer per row would dominate the cost. HISTORY_ITEM declares each
field once, for the response and for the OpenAPI schema (history.shapes).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.docs import ListLinksSerializer
from core.strict import JsonObjectField, StrictSerializer
from core.times import iso
from history.models import Run, RunStep
from history.rows import succeeded
from history.shapes import Field, Shape, column
from jobs.redact import redact_request

# RunStep status → Informer's result status (success|error|warning).
PROGRESS_STATUS = {RunStep.Status.DONE: "success", RunStep.Status.ERROR: "error"}
RESULT_KEYS = {RunStep.Status.DONE: "success", RunStep.Status.ERROR: "error"}


def progress_entry(step: dict[str, Any]) -> dict[str, Any]:
    status = step["status"]
    return {
        "task": {"key": step["key"], "opts": {"name": step["name"], **(step["opts"] or {})}},
        "result": {
            "key": step["result_key"] or f"job:status.{RESULT_KEYS.get(status, status)}",
            "success": status == RunStep.Status.DONE,
            "status": PROGRESS_STATUS.get(status, "warning"),
            "message": step["message"] or step["error"] or None,
        },
    }


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


class WarningSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=Run.WarningKind.values,
        help_text="step: another step failed; duration, size, json_type: unlike the job's recent successful runs",
    )
    message = serializers.CharField(help_text="What was unlike them, and the band or limit it broke")


STEP_WARNING = "A step other than the request failed."


def warning_of(row: dict[str, Any]) -> dict[str, str] | None:
    """Why `warnings` is true, or None; a run written before warnings had kinds counts as a step's."""
    if not row["warnings"]:
        return None
    return {"kind": row["warning_kind"] or Run.WarningKind.STEP, "message": row["warning"] or STEP_WARNING}


def _uuid_or_none(name: str) -> Any:
    return lambda row: str(row[name]) if row[name] else None


def _time(name: str) -> Any:
    return lambda row: iso(row[name])


# The seed's fields first, in its order, then ours.
HISTORY_ITEM = Shape(
    "HistoryItem",
    [
        Field("id", serializers.UUIDField(), lambda row: str(row["id"])),
        Field("jobId", serializers.UUIDField(), lambda row: str(row["job_id"])),
        Field("ownerId", serializers.CharField(help_text="team:<slug>"), lambda row: f"team:{row['team_slug']}"),
        Field("success", serializers.BooleanField(), succeeded),
        Field("warnings", serializers.BooleanField(), column("warnings")),
        Field(
            "duration",
            serializers.ListField(
                child=serializers.DateTimeField(allow_null=True), min_length=2, max_length=2, help_text="[start, end]"
            ),
            lambda row: [iso(row["started_at"]), iso(row["finished_at"])],
        ),
        Field("data", serializers.DictField(), lambda row: row["data"] or {}),
        Field(
            "progress",
            ProgressSerializer(many=True),
            lambda row: [progress_entry(step) for step in row["steps"]] if "steps" in row else [],
        ),
        Field("createdAt", serializers.DateTimeField(), _time("created_at")),
        Field("attempt", serializers.IntegerField(), column("attempt")),
        Field("retryOf", serializers.UUIDField(allow_null=True), _uuid_or_none("retry_of_id")),
        Field("backoffLimit", serializers.IntegerField(), column("backoff_limit")),
        Field("triggeredBy", serializers.ChoiceField(choices=Run.Trigger.values), column("triggered_by")),
        Field("user", serializers.CharField(allow_null=True), column("user_name")),
        Field("scheduledFor", serializers.DateTimeField(), _time("scheduled_for")),
        Field("latenessMs", serializers.IntegerField(allow_null=True), column("lateness_ms")),
        Field("status", serializers.ChoiceField(choices=Run.Status.values), column("status")),
        Field(
            "endReason",
            serializers.ChoiceField(choices=Run.EndReason.values, allow_null=True),
            lambda row: row["end_reason"] or None,
        ),
        Field("httpStatus", serializers.IntegerField(allow_null=True), column("http_status")),
        Field("responseBody", serializers.CharField(allow_null=True), column("response_body")),
        Field("error", serializers.CharField(allow_null=True), column("error")),
        Field("exitCode", serializers.IntegerField(allow_null=True), column("exit_code")),
        Field(
            "warning",
            WarningSerializer(allow_null=True, help_text="Why `warnings` is true; null when it is false"),
            warning_of,
        ),
        Field("variables", serializers.DictField(), lambda row: row["variables"] or {}),
        # Stored redacted by the executor; redacted again so a rule added later also covers old rows.
        Field(
            "request",
            serializers.DictField(help_text="The request as sent; secret headers redacted"),
            lambda row: redact_request(row["request"]) if row["request"] else {},
        ),
    ],
)
HistoryItemSerializer = HISTORY_ITEM.serializer


class ChainRunSerializer(serializers.Serializer):
    runId = serializers.UUIDField(allow_null=True, help_text="null once the run has been deleted")
    jobId = serializers.UUIDField(allow_null=True)
    naturalId = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=Run.Status.values, allow_null=True)
    endReason = serializers.ChoiceField(choices=Run.EndReason.values, allow_null=True)
    href = serializers.CharField(allow_null=True)


class ChainSerializer(serializers.Serializer):
    startedBy = ChainRunSerializer(
        many=True, help_text="The runs whose outcome started this one (a job chain's `after`)"
    )
    started = ChainRunSerializer(many=True, help_text="The runs this run's outcome started")


class HistoryDetailSerializer(HistoryItemSerializer):  # type: ignore[misc,valid-type]  # HistoryItemSerializer is built at run time from the HISTORY_ITEM shape
    """One run: its history item, and its place in a job chain."""

    chain = ChainSerializer()


def run_item(row: dict[str, Any]) -> dict[str, Any]:
    """One run (a row, history.rows) as Informer shows it; a row without `steps` shows no progress."""
    return HISTORY_ITEM.render(row)


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
            "totalIsEstimate": serializers.BooleanField(
                help_text="true when `total` is a lower bound: 10,000, or 1,000 for a filtered or searched list"
            ),
        }


class TriggerSerializer(StrictSerializer):
    variables = JsonObjectField(required=False, help_text="Values for {{ variables }} in this run only")


class DeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


class HistoryFilterSerializer(StrictSerializer):
    """POST …/history/delete: the list filters, in the body."""

    status = serializers.ChoiceField(choices=Run.Status.values, required=False)
    endReason = serializers.ChoiceField(choices=Run.EndReason.values, required=False)
    triggeredBy = serializers.ChoiceField(choices=Run.Trigger.values, required=False)
    success = serializers.BooleanField(required=False)
    httpStatus = serializers.RegexField(r"^[1-5]([0-9]{2}|xx)$", required=False)
    createdAfter = serializers.DateTimeField(required=False)
    createdBefore = serializers.DateTimeField(required=False)
    attempt = serializers.IntegerField(required=False, min_value=1, max_value=32767)
    q = serializers.CharField(required=False, max_length=200)


class DurationPercentilesSerializer(serializers.Serializer):
    p50 = serializers.IntegerField(allow_null=True)
    p95 = serializers.IntegerField(allow_null=True)
    p99 = serializers.IntegerField(allow_null=True)


class LatenessPercentilesSerializer(serializers.Serializer):
    p50 = serializers.IntegerField(allow_null=True)
    p99 = serializers.IntegerField(allow_null=True)


class StatsSerializer(serializers.Serializer):
    jobId = serializers.UUIDField()
    window = serializers.ChoiceField(choices=["24h", "7d", "30d"])
    since = serializers.DateTimeField()
    runs = serializers.IntegerField()
    ended = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    successRate = serializers.FloatField(allow_null=True, help_text="succeeded / ended, 0–1")
    durationMs = DurationPercentilesSerializer()
    latenessMs = LatenessPercentilesSerializer()
    lastSuccessAt = serializers.DateTimeField(allow_null=True)
    lastFailureAt = serializers.DateTimeField(allow_null=True)
