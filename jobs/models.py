from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs import schedules
from jobs.crypto import encrypt_value
from jobs.engine.success import compile_body_regex
from jobs.roles import Role

NATURAL_ID_RE = r"^[a-zA-Z0-9._-]+$"
natural_id_validator = RegexValidator(NATURAL_ID_RE, "Use only letters, digits, '.', '_' and '-' (1–100 characters).")


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def new_sealed_signing_secret() -> str:
    """A new signing secret as it is stored: sealed with jobs.crypto, like every secret at rest."""
    return encrypt_value(new_signing_secret())


class Team(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    # Requests to targets are signed with this secret (sealed: jobs.crypto); after a rotation the
    # previous one signs too until previous_signing_secret_expires_at, so targets can switch over
    # without a gap. Read them with jobs.engine.signing.team_secrets.
    signing_secret = models.CharField(max_length=255, default=new_sealed_signing_secret)
    previous_signing_secret = models.CharField(max_length=255, blank=True, default="")
    previous_signing_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_team_user_unique")]
        ordering = ["team__slug", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class ApiKey(models.Model):
    """A bearer key bound to one team. Only a hash of the secret is stored."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=128)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    # Where jobs.auth.apikey_verify puts the creator's role, read in the same query as the key.
    CREATOR_ROLE = "creator_role_in_team"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def creator_role(team_id: Any, user_id: Any) -> models.QuerySet:
        """The role of a key's creator in the key's team: one column, at most one row (also a subquery)."""
        rows = Membership.objects.filter(team_id=team_id, user_id=user_id).order_by()  # no joins for Meta.ordering
        return rows.values_list("role", flat=True)[:1]


class Job(models.Model):
    class Kind(models.TextChoices):
        CRON = schedules.CRON, "Cron"
        INTERVAL = schedules.INTERVAL, "Interval"
        ONCE = schedules.ONCE, "Once"
        NONE = schedules.NONE, "Only when triggered"

    class Backoff(models.TextChoices):
        EXPONENTIAL = "exponential", "Exponential (full jitter)"
        LINEAR = "linear", "Linear"
        CONSTANT = "constant", "Constant"

    class Overlap(models.TextChoices):
        ALLOW = "allow", "Allow"
        FORBID = "forbid", "Forbid (skip)"
        REPLACE = "replace", "Replace (stop the running one)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="jobs")
    natural_id = models.CharField(max_length=100, validators=[natural_id_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)

    schedule_kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CRON)
    cron_expression = models.CharField(max_length=200, blank=True, default="")
    timezone = models.CharField(max_length=64, default="UTC")
    interval_seconds = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    run_at = models.DateTimeField(null=True, blank=True, help_text="One-off time, or an interval's start.")
    next_run_at = models.DateTimeField(null=True, blank=True)

    retry_limit = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    backoff_strategy = models.CharField(max_length=16, choices=Backoff.choices, default=Backoff.EXPONENTIAL)
    backoff_base_seconds = models.PositiveIntegerField(default=10)

    overlap_policy = models.CharField(max_length=16, choices=Overlap.choices, default=Overlap.ALLOW)
    misfire_grace_seconds = models.PositiveIntegerField(default=60)
    # Each slot fires up to this many seconds late, by an offset fixed per slot (schedules.jitter_offset).
    jitter_seconds = models.PositiveIntegerField(default=0)
    # The active window: slots from start_at to end_at, at most max_runs of them (fired_runs counts them).
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    max_runs = models.PositiveIntegerField(null=True, blank=True)
    fired_runs = models.PositiveIntegerField(default=0)
    # Why Hourglass turned the job off itself (its window ended); cleared when someone enables it.
    paused_reason = models.CharField(max_length=200, blank=True, default="")
    # Pause the job after this many failed runs in a row (jobs.engine.autopause).
    pause_after_failures = models.PositiveIntegerField(null=True, blank=True)
    # Job chains (jobs.chains): the jobs this one follows are its `triggers`; with after_all it runs once all of
    # them have had a matching outcome within after_within_seconds of each other, not after each one.
    after_all = models.BooleanField(default=False)
    after_within_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Anomaly warnings (jobs.engine.anomaly): null takes the HOURGLASS_ANOMALY_* default; 0 turns a check off.
    anomaly_window = models.PositiveSmallIntegerField(null=True, blank=True)
    anomaly_min_samples = models.PositiveSmallIntegerField(null=True, blank=True)
    anomaly_duration_k = models.FloatField(null=True, blank=True)
    anomaly_size_factor = models.FloatField(null=True, blank=True)
    anomaly_json_field = models.CharField(max_length=200, blank=True, default="", db_default="")

    # Success rule: status ranges such as "200-299,304"; optional body match and latency bound.
    success_statuses = models.CharField(max_length=200, default="200-299")
    success_body_contains = models.CharField(max_length=500, blank=True, default="")
    success_body_regex = models.CharField(max_length=500, blank=True, default="")
    success_max_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    follow_redirects = models.BooleanField(default=False)

    keep_runs = models.PositiveIntegerField(default=100)
    keep_days = models.PositiveIntegerField(null=True, blank=True)
    keep_failed_days = models.PositiveIntegerField(null=True, blank=True)

    variables = models.JSONField(default=dict, blank=True)
    secret_headers = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Not a column: set by jobs.services.job_create and job_update to the stored secrets that write dropped.
    dropped_secrets: list[Any]

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "natural_id"], name="job_team_natural_id_unique"),
        ]
        indexes = [
            # The dispatcher's only lookup: enabled jobs due before a horizon.
            models.Index(fields=["next_run_at"], condition=Q(enabled=True), name="job_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.natural_id}" if self.team_id else self.natural_id

    def clean(self) -> None:
        # Here, so the service (API, dashboard, CLI) and the admin's form all refuse it at save time.
        if self.success_body_regex:
            try:
                compile_body_regex(self.success_body_regex)
            except ValueError as exc:
                raise ValidationError({"success_body_regex": str(exc)}) from exc

    @property
    def schedule(self) -> schedules.Schedule:
        return schedules.Schedule(
            kind=self.schedule_kind,
            expression=self.cron_expression,
            timezone=self.timezone or "UTC",
            interval_seconds=self.interval_seconds,
            run_at=self.run_at,
            anchor=self.created_at,
            seed=schedules.spread_seed(self.team_id, self.natural_id),
            start_at=self.start_at,
            end_at=self.end_at,
        )

    def attached_calendars(self) -> list[Any]:
        """The job's JobCalendar rows with their calendars, in order (prefetched ones when a list loaded them)."""
        if "calendar_links" in getattr(self, "_prefetched_objects_cache", {}):
            return list(self.calendar_links.all())
        if self._state.adding:
            return []
        return list(self.calendar_links.select_related("calendar"))

    @property
    def calendars(self) -> list[dict[str, str]]:
        """The attached calendars as the write path takes them: [{"calendar": name, "mode": exclude|only}]."""
        return [{"calendar": link.calendar.name, "mode": link.mode} for link in self.attached_calendars()]

    @property
    def after(self) -> list[dict[str, str]]:
        """The jobs this one follows, as the write service takes them: [{"job": natural id, "on": outcome}]."""
        if "triggers" in getattr(self, "_prefetched_objects_cache", {}):
            triggers = sorted(self.triggers.all(), key=lambda trigger: trigger.position)
        else:
            triggers = list(self.triggers.select_related("upstream").order_by("position"))
        return [{"job": trigger.upstream.natural_id, "on": trigger.on} for trigger in triggers]

    @property
    def schedule_text(self) -> str:
        saved = not self._state.adding
        after = schedules.describe_after(self.after, self.after_all, self.after_within_seconds) if saved else ""
        if after and self.schedule_kind == self.Kind.NONE:
            return after[0].upper() + after[1:]
        parts = [schedules.describe(self.schedule)]
        if after:
            parts.append(f"and {after}")
        if self.jitter_seconds:
            parts.append(f"each run up to {self.jitter_seconds} s later (jitter)")
        if self.start_at:
            parts.append(f"from {self.start_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
        if self.end_at:
            parts.append(f"until {self.end_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
        if self.max_runs:
            parts.append(f"at most {self.max_runs} runs ({self.fired_runs} so far)")
        for link in self.attached_calendars():
            verb = "skipping slots in" if link.mode == "exclude" else "only in"
            parts.append(f"{verb} calendar {link.calendar.name}")
        return ", ".join(parts)

    def window_end_reason(self, next_slot: datetime | None) -> str:
        """Why the job's active window is over, or "": its runs used up, or no slot left before end_at."""
        if self.max_runs is not None and self.fired_runs >= self.max_runs:
            return f"Ended after {self.fired_runs} of at most {self.max_runs} runs (maxRuns)."
        if next_slot is None and self.end_at is not None and self.schedule_kind != self.Kind.NONE:
            return f"Ended: its active window closed at {self.end_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC (endAt)."
        return ""

    @property
    def once_done(self) -> bool:
        """A one-off whose time has passed: it fired (the dispatcher then turns it off) and will not fire again."""
        return (
            self.schedule_kind == self.Kind.ONCE
            and not self.enabled
            and self.run_at is not None
            and self.run_at <= timezone.now()
        )


class JobStep(models.Model):
    class Kind(models.TextChoices):
        HTTP = "http", "HTTP request"
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class RunIf(models.TextChoices):
        ON_SUCCESS = "on_success", "When its dependencies succeeded"
        ON_FAILURE = "on_failure", "When the run has failed"
        ALWAYS = "always", "Always"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=100, validators=[natural_id_validator])
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.HTTP)
    depends_on = models.JSONField(default=list, blank=True)
    run_if = models.CharField(max_length=16, choices=RunIf.choices, default=RunIf.ON_SUCCESS)
    # http/webhook: method, url, headers, body, timeout_ms; email: recipients, subject, body.
    config = models.JSONField(default=dict)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["job", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="jobstep_job_name_unique")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.name}"


class JobTrigger(models.Model):
    """One entry of a job's `after`: run `job` when a run of `upstream` ends with the outcome `on`."""

    class On(models.TextChoices):
        SUCCESS = "success", "succeeds"
        FAILURE = "failure", "fails"
        ANY = "any", "ends"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="triggers")
    upstream = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="followers")
    on = models.CharField(max_length=16, choices=On.choices, default=On.SUCCESS)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "upstream"], name="jobtrigger_job_upstream_unique")]

    def __str__(self) -> str:
        return f"{self.job_id} after {self.upstream_id} ({self.on})"


class AuditEntryQuerySet(models.QuerySet):
    """Entries are append-only: bulk updates and deletes are refused (a team's deletion still cascades)."""

    def update(self, **kwargs: Any) -> int:
        raise PermissionError("Audit entries cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit entries cannot be deleted.")


class AuditEntry(models.Model):
    """One action on a team's jobs, runs, keys or members. Written by jobs.audit.audit_record only."""

    class Action(models.TextChoices):
        JOB_CREATE = "job.create"
        JOB_UPDATE = "job.update"
        JOB_DELETE = "job.delete"
        JOB_PAUSE = "job.pause"
        JOB_RESUME = "job.resume"
        RUN_TRIGGER = "run.trigger"
        RUN_CANCEL = "run.cancel"
        RUN_RERUN = "run.rerun"
        RUN_DELETE = "run.delete"
        RUN_BULK_DELETE = "run.bulk_delete"
        APIKEY_CREATE = "apikey.create"
        APIKEY_REVOKE = "apikey.revoke"
        MEMBER_ADD = "member.add"
        MEMBER_CHANGE = "member.change"
        MEMBER_REMOVE = "member.remove"
        SIGNING_SECRET_VIEW = "signing_secret.view"  # noqa: S105 - an action name
        SIGNING_SECRET_ROTATE = "signing_secret.rotate"  # noqa: S105
        MANIFEST_APPLY = "manifest.apply"
        CALENDAR_CREATE = "calendar.create"
        CALENDAR_UPDATE = "calendar.update"
        CALENDAR_DELETE = "calendar.delete"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="audit_entries")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Who, as text: kept when the user or key is gone ("alice", "key:1a2b3c4d", "system").
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=32, choices=Action.choices)
    target_type = models.CharField(max_length=50, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["team", "-created_at", "-id"], name="audit_team_created_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit entries cannot be deleted.")


# Defined in their own module (this one is long enough), registered with the app from here.
from jobs.calendar_models import Calendar, JobCalendar  # noqa: E402

__all__ = ["ApiKey", "AuditEntry", "Calendar", "Job", "JobCalendar", "JobStep", "Membership", "Team"]
