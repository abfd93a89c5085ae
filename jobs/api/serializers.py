"""The job resource in camelCase, both ways; nested groups map onto flat Job fields via source="*"."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.strict import JsonObjectField, StrictSerializer
from jobs import steps as step_rules
from jobs.api.anomaly import AnomalySerializer
from jobs.models import NATURAL_ID_RE, Job, JobTrigger
from jobs.secrets import REASONS, shown_headers
from jobs.write import FIELDS


def _help(path: str) -> str:
    """A field's description: the write table's (jobs.write.JOB_FIELDS), so the form and the API say the same."""
    return FIELDS[path].help


class ScheduleSerializer(StrictSerializer):
    kind = serializers.ChoiceField(source="schedule_kind", choices=Job.Kind.choices, help_text=_help("schedule_kind"))
    expression = serializers.CharField(
        source="cron_expression",
        required=False,
        allow_blank=True,
        max_length=200,
        help_text=_help("cron_expression"),
    )
    # Not trimmed: "UTC " is not a zone name, and is refused rather than quietly corrected.
    timezone = serializers.CharField(
        required=False,
        max_length=64,
        trim_whitespace=False,
        help_text=_help("timezone") + " A one-off time or an interval's start without an offset is read in it.",
    )
    seconds = serializers.IntegerField(
        source="interval_seconds", required=False, allow_null=True, min_value=1, help_text=_help("interval_seconds")
    )
    at = serializers.DateTimeField(source="run_at", required=False, allow_null=True, help_text=_help("run_at"))
    description = serializers.CharField(source="schedule_text", read_only=True, help_text="The schedule in words.")


class RetrySerializer(StrictSerializer):
    limit = serializers.IntegerField(
        source="retry_limit", required=False, min_value=0, max_value=100, help_text=_help("retry_limit")
    )
    backoff = serializers.ChoiceField(
        source="backoff_strategy", required=False, choices=Job.Backoff.choices, help_text=_help("backoff_strategy")
    )
    baseSeconds = serializers.IntegerField(
        source="backoff_base_seconds",
        required=False,
        min_value=0,
        max_value=86400,
        help_text=_help("backoff_base_seconds"),
    )


class SuccessRuleSerializer(StrictSerializer):
    """Types only: the rules (statuses that parse, a pattern that compiles) are jobs.write's."""

    statuses = serializers.CharField(
        source="success_statuses", required=False, max_length=200, help_text=_help("success_statuses")
    )
    bodyContains = serializers.CharField(
        source="success_body_contains",
        required=False,
        allow_blank=True,
        max_length=500,
        help_text=_help("success_body_contains"),
    )
    bodyRegex = serializers.CharField(
        source="success_body_regex",
        required=False,
        allow_blank=True,
        max_length=500,
        help_text=_help("success_body_regex") + " RE2 syntax (linear-time): no look-arounds or back-references.",
    )
    maxLatencyMs = serializers.IntegerField(
        source="success_max_latency_ms",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2_147_483_647,
        help_text=_help("success_max_latency_ms"),
    )
    followRedirects = serializers.BooleanField(
        source="follow_redirects", required=False, help_text=_help("follow_redirects")
    )


class RetentionSerializer(StrictSerializer):
    keepRuns = serializers.IntegerField(
        source="keep_runs", required=False, min_value=1, max_value=1_000_000, help_text=_help("keep_runs")
    )
    keepDays = serializers.IntegerField(
        source="keep_days", required=False, allow_null=True, min_value=1, max_value=36500, help_text=_help("keep_days")
    )
    keepFailedDays = serializers.IntegerField(
        source="keep_failed_days",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=36500,
        help_text=_help("keep_failed_days"),
    )


class HeadersField(serializers.DictField):
    # Header values keep their whitespace: trimming would hide a CR/LF that must be rejected.
    child = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=8192)


# The step settings' descriptions (docs/api.md, "Steps", says the same at more length).
CONFIG_HELP = {
    "method": "http: the HTTP method (GET by default). webhook: always POST.",
    "url": "http and webhook: the absolute http:// or https:// URL; may use {{ names }}.",
    "headers": "http and webhook: request headers, name to value; values may use {{ names }}. Secret ones"
    " (secretHeaders, or names like Authorization) read [redacted]; send [redacted] back to keep the stored value.",
    "body": "http: the request body, as text; may use {{ names }}. email: the message text (a summary of the run"
    " when empty). webhook: not taken, it sends the run's summary as JSON.",
    "timeout_ms": "http and webhook: the total time allowed for the request, in milliseconds.",
    "recipients": "email: the addresses to send to.",
    "subject": "email: the subject line; may use {{ names }}, the run's outcome included.",
    "after_failures": "email and webhook: notify only once this many runs in a row have failed.",
    "on_recovery": "email and webhook: also notify when a run succeeds right after a failure.",
}
REQUEST_HELP = {key: CONFIG_HELP[key].replace("http and webhook: ", "").replace("http: ", "") for key in CONFIG_HELP}


class StepConfigSerializer(StrictSerializer):
    """http: method, url, headers, body, timeoutMs; webhook: url, headers, timeoutMs, afterFailures, onRecovery;
    email: recipients, subject, body, afterFailures, onRecovery."""

    method = serializers.ChoiceField(choices=step_rules.HTTP_METHODS, required=False, help_text=CONFIG_HELP["method"])
    url = serializers.CharField(required=False, max_length=2000, trim_whitespace=False, help_text=CONFIG_HELP["url"])
    headers = HeadersField(required=False, help_text=CONFIG_HELP["headers"])
    body = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=1_000_000, help_text=CONFIG_HELP["body"]
    )
    timeoutMs = serializers.IntegerField(
        source="timeout_ms",
        required=False,
        min_value=1,
        max_value=step_rules.MAX_TIMEOUT_MS,
        help_text=CONFIG_HELP["timeout_ms"],
    )
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=254), required=False, help_text=CONFIG_HELP["recipients"]
    )
    subject = serializers.CharField(required=False, allow_blank=True, max_length=500, help_text=CONFIG_HELP["subject"])
    afterFailures = serializers.IntegerField(
        source="after_failures", required=False, min_value=1, help_text=CONFIG_HELP["after_failures"]
    )
    onRecovery = serializers.BooleanField(source="on_recovery", required=False, help_text=CONFIG_HELP["on_recovery"])


class StepSerializer(StrictSerializer):
    name = serializers.RegexField(
        r"^[a-zA-Z0-9._-]{1,100}$",
        required=False,
        help_text="Unique in the job; 'main' for the first step when left out, then step-2, step-3…",
    )
    kind = serializers.ChoiceField(
        choices=step_rules.STEP_KINDS,
        required=False,
        default="http",
        help_text="http: a request; email: a message through the server's mail backend; webhook: a POST of the"
        " run's summary as JSON.",
    )
    dependsOn = serializers.ListField(
        source="depends_on",
        child=serializers.CharField(max_length=100),
        required=False,
        help_text="Names of the steps that must end first.",
    )
    runIf = serializers.ChoiceField(
        source="run_if",
        choices=step_rules.RUN_IF,
        required=False,
        help_text="on_success (the default): when its dependencies succeeded; on_failure: when the run has failed;"
        " always.",
    )
    config = StepConfigSerializer(required=False, help_text="The step's settings, by kind.")

    def to_representation(self, step: Any) -> dict[str, Any]:
        # As it is sent: a webhook's method reads POST (jobs.steps.sent_config).
        shown = SimpleNamespace(
            name=step.name,
            kind=step.kind,
            depends_on=step.depends_on,
            run_if=step.run_if,
            config=step_rules.sent_config(step.kind, step.config or {}),
        )
        return super().to_representation(shown)


class RequestSerializer(StrictSerializer):
    """The one-step shortcut: a single HTTP request."""

    method = serializers.ChoiceField(
        choices=step_rules.HTTP_METHODS, required=False, default="GET", help_text=REQUEST_HELP["method"]
    )
    url = serializers.CharField(max_length=2000, trim_whitespace=False, help_text=REQUEST_HELP["url"])
    headers = HeadersField(required=False, help_text=REQUEST_HELP["headers"])
    body = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=1_000_000, help_text=REQUEST_HELP["body"]
    )
    timeoutMs = serializers.IntegerField(
        source="timeout_ms",
        required=False,
        min_value=1,
        max_value=step_rules.MAX_TIMEOUT_MS,
        help_text=REQUEST_HELP["timeout_ms"],
    )


class CalendarLinkSerializer(StrictSerializer):
    """One calendar a job follows."""

    calendar = serializers.CharField(max_length=100, help_text="The team calendar's name (or its UUID, on input).")
    mode = serializers.ChoiceField(
        choices=["exclude", "only"],
        required=False,
        default="exclude",
        help_text="exclude: a slot inside the calendar is skipped; only: a slot outside it is skipped.",
    )


class AfterSerializer(StrictSerializer):
    """One job this one follows: its ID in the team and the outcome that starts this one."""

    job = serializers.CharField(max_length=100, help_text="The natural ID of a job in the same team.")
    on = serializers.ChoiceField(
        choices=JobTrigger.On.values,
        required=False,
        default=JobTrigger.On.SUCCESS,
        help_text="success (the default), failure (failed, timed out, crashed, blocked) or any of those.",
    )


class LinkSerializer(serializers.Serializer):
    href = serializers.CharField()


class JobLinksSerializer(serializers.Serializer):
    self = LinkSerializer()
    history = LinkSerializer()


class JobSerializer(StrictSerializer):
    id = serializers.UUIDField(read_only=True, help_text="The job's UUID.")
    naturalId = serializers.RegexField(
        NATURAL_ID_RE, source="natural_id", max_length=100, help_text=_help("natural_id")
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text=_help("name"))
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, help_text=_help("description")
    )
    ownerId = serializers.SerializerMethodField(help_text="team:<slug>")
    team = serializers.SlugField(write_only=True, required=False, help_text="Team slug; needed if you are in several")
    enabled = serializers.BooleanField(required=False, help_text=_help("enabled"))
    schedule = ScheduleSerializer(source="*", help_text="When the job runs.")
    nextRunAt = serializers.DateTimeField(
        source="next_run_at", read_only=True, allow_null=True, help_text="The next slot; null when paused or done."
    )
    request = RequestSerializer(write_only=True, required=False, help_text="Shortcut for a one-request job")
    steps = StepSerializer(many=True, required=False, help_text="The job's steps, run in dependency order.")
    notify = StepSerializer(many=True, write_only=True, required=False, help_text="Email/webhook steps to add")
    retry = RetrySerializer(source="*", required=False, help_text="Retries of a failed attempt.")
    overlapPolicy = serializers.ChoiceField(
        source="overlap_policy", choices=Job.Overlap.choices, required=False, help_text=_help("overlap_policy")
    )
    misfireGraceSeconds = serializers.IntegerField(
        source="misfire_grace_seconds",
        required=False,
        min_value=0,
        max_value=2_147_483_647,
        help_text=_help("misfire_grace_seconds"),
    )
    jitterSeconds = serializers.IntegerField(
        source="jitter_seconds", required=False, min_value=0, max_value=86_400, help_text=_help("jitter_seconds")
    )
    startAt = serializers.DateTimeField(source="start_at", required=False, allow_null=True, help_text=_help("start_at"))
    endAt = serializers.DateTimeField(source="end_at", required=False, allow_null=True, help_text=_help("end_at"))
    maxRuns = serializers.IntegerField(
        source="max_runs",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2_147_483_647,
        help_text=_help("max_runs"),
    )
    pauseAfterFailures = serializers.IntegerField(
        source="pause_after_failures",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=1000,
        help_text=_help("pause_after_failures"),
    )
    after = AfterSerializer(many=True, required=False, help_text=_help("after"))
    afterAll = serializers.BooleanField(source="after_all", required=False, help_text=_help("after_all"))
    afterWithinSeconds = serializers.IntegerField(
        source="after_within_seconds",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=7 * 86_400,
        help_text=_help("after_within_seconds"),
    )
    firedRuns = serializers.IntegerField(
        source="fired_runs", read_only=True, help_text="Scheduled runs so far (what maxRuns counts)."
    )
    pausedReason = serializers.CharField(
        source="paused_reason", read_only=True, help_text="Why Hourglass turned the job off itself; empty otherwise."
    )
    successRule = SuccessRuleSerializer(source="*", required=False, help_text="What counts as a successful run.")
    retention = RetentionSerializer(source="*", required=False, help_text="How long runs are kept.")
    anomaly = AnomalySerializer(
        source="*",
        required=False,
        help_text="When a successful run is a warning: unlike the last ones.",
    )
    variables = JsonObjectField(required=False, help_text=_help("variables"))
    secretHeaders = serializers.ListField(
        source="secret_headers",
        child=serializers.CharField(max_length=100),
        required=False,
        help_text=_help("secret_headers"),
    )
    calendars = CalendarLinkSerializer(many=True, required=False, help_text=_help("calendars"))
    createdAt = serializers.DateTimeField(source="created_at", read_only=True, help_text="When it was created.")
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True, help_text="When it last changed.")
    _links = serializers.SerializerMethodField(help_text="HAL links: self and history.")

    @extend_schema_field(serializers.CharField(help_text="team:<slug>"))
    def get_ownerId(self, job: Job) -> str:
        return f"team:{job.team.slug}"

    @extend_schema_field(JobLinksSerializer)
    def get__links(self, job: Job) -> dict[str, dict[str, str]]:
        return {
            "self": {"href": reverse("api:job-detail", args=[job.pk])},
            "history": {"href": reverse("api:job-history", args=[job.pk])},
        }

    def to_representation(self, job: Job) -> dict[str, Any]:
        data = super().to_representation(job)
        # Secrets (by name, or sealed at rest) are never shown; sending the placeholder back keeps them (jobs.secrets).
        for step in data.get("steps") or []:
            headers = (step.get("config") or {}).get("headers")
            if headers:
                step["config"]["headers"] = shown_headers(headers, job.secret_headers or ())
        return data


class JobChangeSerializer(JobSerializer):
    """A change to a job: any field a create takes, but the team (a job stays in its team)."""

    team = None  # type: ignore[assignment]  # None removes the inherited field (DRF)
    refused_fields = {"team": "A job cannot move to another team."}


class DroppedSecretSerializer(serializers.Serializer):
    step = serializers.CharField()
    header = serializers.CharField()
    reason = serializers.ChoiceField(choices=list(REASONS), help_text="origin, unmarked or missing")
    message = serializers.CharField()


class JobWrittenSerializer(JobSerializer):
    """The answer to a create or a change: the job, and the stored secret values this write dropped."""

    droppedSecrets = DroppedSecretSerializer(
        many=True,
        read_only=True,
        help_text="Stored secret header values dropped by this write: the step's URL origin changed, the header is"
        " no longer secret, or nothing was stored to keep. Send a value again to keep it.",
    )
