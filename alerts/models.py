"""Alerting: a team's channels (Apprise URLs, sealed at rest), the rules that send to them, the incidents that
group a job's failing runs, and the log of every delivery attempt."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from jobs.models import Job, Team


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK: dict[str, int] = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}


class Event(models.TextChoices):
    FAILURE = "failure", "A run failed (after N in a row)"
    RECOVERY = "recovery", "The job recovered"
    MISSED = "missed", "A slot was missed"
    SKIPPED = "skipped", "A slot was skipped (overlap)"
    AUTO_PAUSE = "auto_pause", "The job paused itself"
    WARNING = "warning", "A run succeeded but looks wrong"
    TEST = "test", "Test alert"


# What each event weighs against a channel's minimum severity.
EVENT_SEVERITY: dict[str, str] = {
    Event.FAILURE: Severity.ERROR,
    Event.RECOVERY: Severity.INFO,
    Event.MISSED: Severity.WARNING,
    Event.SKIPPED: Severity.WARNING,
    Event.AUTO_PAUSE: Severity.CRITICAL,
    Event.WARNING: Severity.WARNING,
    Event.TEST: Severity.INFO,
}
RULE_EVENTS = tuple(event for event in Event.values if event != Event.TEST)


class Channel(models.Model):
    """Where alerts go: one Apprise URL (sealed with jobs.crypto; never shown again once saved)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_channels")
    name = models.CharField(max_length=100)
    # The Apprise schema ("slack", "json", "mailto", ...): shown in place of the URL.
    kind = models.CharField(max_length=32)
    url = models.TextField(help_text="The Apprise URL, sealed (enc:v1:...).")
    min_severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.INFO)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="alert_channel_team_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def shown_url(self) -> str:
        from alerts.targets import redacted_url

        return redacted_url(self.kind)

    def accepts(self, severity: str) -> bool:
        return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(self.min_severity, 0)


class AlertRule(models.Model):
    """Which events of a job (or, with no job, of every job of the team without rules of its own) alert, where."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_rules")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100, blank=True, default="")
    events = models.JSONField(default=list)
    # failure: alert once the incident has this many failed runs in a row.
    after_failures = models.PositiveIntegerField(default=1)
    # failure: alert again every this many seconds while the incident stays open; None = once per incident.
    repeat_every_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Quiet hours: on these weekdays (0 = Monday) between start and end (end before start spans midnight), in
    # quiet_timezone, alerts are recorded as suppressed instead of sent.
    quiet_days = models.JSONField(default=list, blank=True)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    quiet_timezone = models.CharField(max_length=64, default="UTC")
    channels = models.ManyToManyField(Channel, related_name="rules")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team", "job", "created_at"]
        indexes = [models.Index(fields=["team", "job"], name="alert_rule_team_job_idx")]

    def __str__(self) -> str:
        return self.name or f"rule {str(self.pk)[:8]}"


class Incident(models.Model):
    """A job's runs from its first failure to its recovery. At most one is open per job."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="incidents")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="incidents")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    # Run ids, not foreign keys: retention deletes runs with plain DELETEs, and the incident outlives them.
    first_run_id = models.UUIDField(null=True, blank=True)
    last_run_id = models.UUIDField(null=True, blank=True)
    recovery_run_id = models.UUIDField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["job"], condition=Q(status="open"), name="incident_one_open_per_job")
        ]
        indexes = [models.Index(fields=["team", "-opened_at"], name="incident_team_opened_idx")]

    def __str__(self) -> str:
        return f"{self.job_id} since {self.opened_at:%Y-%m-%d %H:%M}"


class Delivery(models.Model):
    """One alert to one channel: every attempt is counted, its last error kept, the next retry planned."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting for its (next) attempt
        SENDING = "sending", "Sending"  # claimed by a worker until next_attempt_at
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"  # every attempt failed
        SUPPRESSED = "suppressed", "Suppressed"  # quiet hours: recorded, not sent

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_deliveries")
    channel = models.ForeignKey(Channel, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    channel_name = models.CharField(max_length=100)
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    run_id = models.UUIDField(null=True, blank=True)
    event = models.CharField(max_length=16, choices=Event.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    title = models.CharField(max_length=250)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["team", "-created_at"], name="delivery_team_created_idx"),
            # The sweep's lookup: deliveries waiting for an attempt, or claimed past their lease.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="delivery_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel_name}: {self.status}"
