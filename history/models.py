from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from jobs.models import Job, Team

# Every Run.EndReason but success (tests/history/test_run_indexes.py holds the two together).
UNSUCCESSFUL_REASONS = ("failed", "stopped", "timeout", "crashed", "skipped", "missed", "blocked", "log_overflow")


class RunQuerySet(models.QuerySet):
    def active(self) -> RunQuerySet:
        return self.filter(status__in=(Run.Status.PENDING, Run.Status.RUNNING))


class Run(models.Model):
    """One attempt at one slot of a job: the superset of the five dialects' run fields."""

    class Trigger(models.TextChoices):
        CRON = "cron", "Schedule"
        API = "api", "API"
        DASHBOARD = "dashboard", "Dashboard"
        BACKFILL = "backfill", "Backfill"
        CHAIN = "chain", "After another job"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        ENDED = "ended", "Ended"

    class EndReason(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped"
        TIMEOUT = "timeout", "Timed out"
        CRASHED = "crashed", "Crashed"
        SKIPPED = "skipped", "Skipped"
        MISSED = "missed", "Missed"
        BLOCKED = "blocked", "Blocked"
        LOG_OVERFLOW = "log_overflow", "Log overflow"

    class WarningKind(models.TextChoices):
        STEP = "step", "A step failed"
        DURATION = "duration", "Duration outside its band"
        SIZE = "size", "Response size changed"
        JSON_TYPE = "json_type", "JSON field changed type"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="runs")
    run_name = models.CharField(max_length=200, blank=True, default="")
    triggered_by = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.CRON)
    triggered_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    attempt = models.PositiveSmallIntegerField(default=1)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    backoff_limit = models.PositiveSmallIntegerField(default=0)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True, default="")

    scheduled_for = models.DateTimeField()
    # A retry waits until not_before; the dispatcher publishes it then.
    not_before = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Staged (pending, `worker` set): the engine's claim holds until then, and the run goes back to
    # plain pending after it. Running: past it, the reaper declares the run crashed.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    lateness_ms = models.IntegerField(null=True, blank=True)

    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    exit_code = models.SmallIntegerField(null=True, blank=True)
    warnings = models.BooleanField(default=False)
    # Why `warnings` is set (jobs.engine.anomaly): the first kind found and every finding's message.
    # db_default: the dispatcher's and the benchmarks' raw INSERTs name only the columns they set.
    warning_kind = models.CharField(max_length=16, choices=WarningKind.choices, blank=True, default="", db_default="")
    warning = models.TextField(blank=True, default="", db_default="")
    variables = models.JSONField(default=dict, blank=True)
    data = models.JSONField(default=dict, blank=True)
    request = models.JSONField(default=dict, blank=True, help_text="The request as sent, secrets redacted.")
    worker = models.CharField(max_length=200, blank=True, default="")

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "scheduled_for", "attempt"], name="run_job_slot_attempt_unique"),
        ]
        indexes = [
            models.Index(fields=["job", "-created_at", "-id"], name="run_job_created_idx"),
            models.Index(fields=["team", "-created_at", "-id"], name="run_team_created_idx"),
            # Dispatcher (due retries) and reaper (stale pending, expired leases).
            models.Index(
                fields=["status", "not_before"],
                condition=Q(status__in=["pending", "running"]),
                name="run_active_idx",
            ),
            models.Index(fields=["job", "status"], name="run_job_status_idx"),
            # A team's runs that ended in anything but success, by reason, newest first: the most used
            # filter of the dashboard and the API. They are a few percent of the runs, so the team index
            # would walk past dozens of successes for each; successes, the rest, lie thick along it.
            models.Index(
                fields=["team", "end_reason", "-created_at", "-id"],
                condition=Q(end_reason__in=UNSUCCESSFUL_REASONS),
                name="run_team_unsuccessful_idx",
            ),
            # RunWisp's notifications: the runs that succeeded with a warning, newest end first.
            models.Index(fields=["team", "-finished_at", "-id"], condition=Q(warnings=True), name="run_warning_idx"),
            # The engine's poll for cancellations of its own runs: only runs being cancelled are in it.
            models.Index(
                fields=["worker"],
                condition=Q(cancel_requested_at__isnull=False, status__in=["pending", "running"]),
                name="run_cancel_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S} #{self.attempt}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)

    @property
    def success(self) -> bool:
        return self.status == self.Status.ENDED and self.end_reason == self.EndReason.SUCCESS


class RunLink(models.Model):
    """A run started by a job chain (jobs.engine.chains) and one of the runs whose outcome started it.

    Unique per (following job, upstream run): a run's outcome starts a job at most once, which is what makes two
    writers ending the same upstream runs at once start a single run. The run links carry no foreign-key
    constraint: the run table is pruned with plain DELETEs (history.retention), which clear these rows themselves.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, db_constraint=False, related_name="trigger_links")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+")
    upstream = models.ForeignKey(
        Run, null=True, on_delete=models.SET_NULL, db_constraint=False, related_name="triggered_links"
    )
    upstream_job = models.ForeignKey(Job, null=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "upstream"], name="runlink_job_upstream_unique")]

    def __str__(self) -> str:
        return f"{self.upstream_id} started {self.run_id}"


class RunStep(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        RUNNING = "running", "Running"
        SKIPPED = "skipped", "Skipped"
        DONE = "done", "Done"
        ERROR = "error", "Error"
        CANCELED = "canceled", "Canceled"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=100)
    key = models.CharField(max_length=100, default="job:progress.invoking_job")
    kind = models.CharField(max_length=16, default="http")
    opts = models.JSONField(default=dict, blank=True)
    depends_on = models.JSONField(default=list, blank=True)
    run_if = models.CharField(max_length=16, default="on_success")
    position = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    result_key = models.CharField(max_length=100, blank=True, default="")
    message = models.TextField(blank=True, default="")
    exit_code = models.SmallIntegerField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="runstep_run_name_unique")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.name} ({self.status})"


class RunHourly(models.Model):
    """One job's ended runs in one hour (by when their end was recorded): counts and log-scale histograms.

    Written by history.rollups as runs end (one statement per batch of ended runs), read by the
    job stats of a job with many runs, so a page view reads at most a few hundred rows.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    ended = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    # {bucket: count} (history.rollups.bucket_of): sparse, a few entries per hour.
    duration_hist = models.JSONField(default=dict)
    lateness_hist = models.JSONField(default=dict)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "hour"], name="runhourly_job_hour_unique")]

    def __str__(self) -> str:
        return f"{self.job_id} @ {self.hour:%Y-%m-%d %H:00}: {self.ended} ended"


class RunBaseline(models.Model):
    """What a job's recent successful runs looked like: the anomaly check's learned history.

    Read and written by the result writer once per batch (jobs.engine.baselines), one row per job.
    Only runs written since the row exists count: nothing is read back from the run history.
    """

    job = models.OneToOneField(Job, on_delete=models.CASCADE, primary_key=True, related_name="+")
    # Newest last, at most the job's anomaly window.
    durations_ms = models.JSONField(default=list)
    response_bytes = models.JSONField(default=list)
    # The JSON field the type was learned for, and its type in the last successful run.
    json_field = models.CharField(max_length=200, blank=True, default="")
    json_type = models.CharField(max_length=16, blank=True, default="")
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.job_id}: {len(self.durations_ms)} durations"
