from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from jobs.models import Job, Team


class RunQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> RunQuerySet:
        """Runs in the teams the user belongs to: every list starts here."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(team__memberships__user=user)

    def active(self) -> RunQuerySet:
        return self.filter(status__in=(Run.Status.PENDING, Run.Status.RUNNING))


class Run(models.Model):
    """One attempt at one slot of a job: the superset of the five dialects' run fields."""

    class Trigger(models.TextChoices):
        CRON = "cron", "Schedule"
        API = "api", "API"
        DASHBOARD = "dashboard", "Dashboard"

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
    # While running, the reaper declares the run crashed once this passes.
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
        ]

    def __str__(self) -> str:
        return f"{self.job_id} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S} #{self.attempt}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)

    @property
    def success(self) -> bool:
        return self.status == self.Status.ENDED and self.end_reason == self.EndReason.SUCCESS


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
