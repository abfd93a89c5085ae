"""Writes on teams, members and jobs. Views, the API, commands and the admin call these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jobs import schedules
from jobs.audit import audit_record
from jobs.auth import hash_secret, new_key_material
from jobs.crypto import encrypt_config
from jobs.models import ApiKey, AuditEntry, Job, JobStep, Membership, Team
from jobs.roles import PERMISSIONS, Role, normalize_scopes, permissions_for
from jobs.steps import validate_steps

# Job fields a caller may set directly (the schedule and steps go through their own checks).
JOB_OPTION_FIELDS = (
    "name",
    "description",
    "enabled",
    "retry_limit",
    "backoff_strategy",
    "backoff_base_seconds",
    "overlap_policy",
    "misfire_grace_seconds",
    "success_statuses",
    "success_body_contains",
    "success_body_regex",
    "success_max_latency_ms",
    "follow_redirects",
    "keep_runs",
    "keep_days",
    "keep_failed_days",
    "variables",
    "secret_headers",
)


def team_create(*, slug: str, name: str = "") -> Team:
    team = Team(slug=slug, name=name or slug)
    team.full_clean()
    team.save()
    return team


def member_set(*, team: Team, username: str, role: str, email: str = "", password: str | None = None) -> Membership:
    """Create the user if missing and give them `role` in `team`."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use one of {', '.join(Role.values)}."})
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username, defaults={"email": email})
        if created or password is not None:
            if password:
                user.set_password(password)
            elif created:
                user.set_unusable_password()
            if email:
                user.email = email
            user.save()
        # The audit log records the change (jobs.audit's Membership signals, which also see the admin's edits).
        membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership


def schedule_from_input(
    *,
    kind: str,
    expression: str = "",
    timezone_name: str = "UTC",
    seconds: int | None = None,
    at: datetime | None = None,
) -> schedules.Schedule:
    """Build a validated Schedule; ScheduleError becomes a field-keyed ValidationError."""
    try:
        return schedules.validate(
            schedules.Schedule(
                kind=kind, expression=expression, timezone=timezone_name or "UTC", interval_seconds=seconds, run_at=at
            )
        )
    except schedules.ScheduleError as exc:
        raise ValidationError({f"schedule.{exc.field}": exc.message}) from exc


def _apply_schedule(job: Job, schedule: schedules.Schedule) -> None:
    job.schedule_kind = schedule.kind
    job.cron_expression = schedule.expression if schedule.kind == schedules.CRON else ""
    job.timezone = schedule.timezone if schedule.kind == schedules.CRON else "UTC"
    job.interval_seconds = schedule.interval_seconds if schedule.kind == schedules.INTERVAL else None
    job.run_at = schedule.run_at


def job_next_run_at(job: Job, after: datetime | None = None) -> datetime | None:
    return schedules.next_fire(job.schedule, after or timezone.now())


def _replace_steps(job: Job, steps: list[dict[str, Any]]) -> None:
    job.steps.all().delete()
    JobStep.objects.bulk_create(
        JobStep(
            job=job,
            name=s["name"],
            kind=s["kind"],
            depends_on=s["depends_on"],
            run_if=s["run_if"],
            config=encrypt_config(s["config"], job.secret_headers),
            position=s["position"],
        )
        for s in steps
    )


def steps_from_input(
    *, request: dict[str, Any] | None = None, steps: list[dict[str, Any]] | None = None, url: str | None = None
) -> list[dict[str, Any]]:
    """The one-request shortcut (`url` or `request`) or a full list of steps, validated."""
    if steps:
        return validate_steps(steps)
    if request is None and url:
        request = {"url": url}
    if request is None:
        raise ValidationError({"request": "Give a request (at least a URL) or a list of steps."})
    return validate_steps([{"name": "main", "kind": "http", "config": request}])


@transaction.atomic
def job_create(
    *,
    team: Team,
    natural_id: str,
    schedule: schedules.Schedule,
    steps: list[dict[str, Any]],
    created_by: Any = None,
    **options: Any,
) -> Job:
    unknown = set(options) - set(JOB_OPTION_FIELDS)
    if unknown:
        raise TypeError(f"unknown job options: {', '.join(sorted(unknown))}")
    job = Job(team=team, natural_id=natural_id, created_by=created_by, **options)
    if not job.name:
        job.name = natural_id
    _apply_schedule(job, schedule)
    job.full_clean(validate_unique=False, validate_constraints=False)
    if Job.objects.filter(team=team, natural_id=natural_id).exists():
        raise ValidationError({"natural_id": f"A job {natural_id!r} already exists in team {team.slug!r}."})
    job.save()
    # next_run_at depends on created_at (the interval anchor), so it is set after the insert.
    job.next_run_at = job_next_run_at(job) if job.enabled else None
    job.save(update_fields=["next_run_at"])
    _replace_steps(job, steps)
    audit_record(
        team=team,
        action=AuditEntry.Action.JOB_CREATE,
        target=job,
        actor=created_by,
        details={"schedule": _schedule_text(job), "enabled": job.enabled, "steps": len(steps)},
    )
    return job


def _schedule_text(job: Job) -> str:
    return job.cron_expression or (f"every {job.interval_seconds}s" if job.interval_seconds else str(job.run_at or ""))


@transaction.atomic
def job_update(
    *,
    job: Job,
    schedule: schedules.Schedule | None = None,
    steps: list[dict[str, Any]] | None = None,
    **options: Any,
) -> Job:
    unknown = set(options) - set(JOB_OPTION_FIELDS) - {"natural_id"}
    if unknown:
        raise TypeError(f"unknown job options: {', '.join(sorted(unknown))}")
    natural_id = options.get("natural_id")
    if (
        natural_id
        and natural_id != job.natural_id
        and (Job.objects.filter(team=job.team_id, natural_id=natural_id).exclude(pk=job.pk).exists())
    ):
        raise ValidationError({"natural_id": f"A job {natural_id!r} already exists in this team."})
    for field, value in options.items():
        setattr(job, field, value)
    if schedule is not None:
        _apply_schedule(job, schedule)
    job.full_clean(validate_unique=False, validate_constraints=False)
    if schedule is not None or "enabled" in options:
        job.next_run_at = job_next_run_at(job) if job.enabled else None
    job.save()
    if steps is not None:
        _replace_steps(job, steps)
    elif "secret_headers" in options:
        for step in job.steps.all():  # newly secret names: seal their stored values too
            sealed = encrypt_config(step.config, job.secret_headers)
            if sealed != step.config:
                JobStep.objects.filter(pk=step.pk).update(config=sealed)
    changed = sorted({*options, *(["schedule"] if schedule is not None else []), *(["steps"] if steps else [])})
    if changed == ["enabled"]:
        action = AuditEntry.Action.JOB_RESUME if job.enabled else AuditEntry.Action.JOB_PAUSE
    else:
        action = AuditEntry.Action.JOB_UPDATE
    # Field names only: values may hold secrets (variables, secret_headers, step headers).
    audit_record(team=job.team_id, action=action, target=job, details={"fields": changed})
    return job


def job_set_enabled(*, job: Job, enabled: bool) -> Job:
    return job_update(job=job, enabled=enabled)


def job_delete(*, job: Job, by: Any = None) -> None:
    """Delete a job with its steps and run history (the executor's conditional updates then match nothing)."""
    with transaction.atomic():
        audit_record(team=job.team_id, action=AuditEntry.Action.JOB_DELETE, target=job, actor=by)
        job.delete()


# --- API keys -------------------------------------------------------------------------------


def apikey_create(
    *,
    team: Team,
    name: str,
    scopes: list[str],
    created_by: Any = None,
    expires_at: datetime | None = None,
    bound: frozenset[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is not stored and cannot be shown again.

    The scopes may not exceed the creator's role in the team, nor `bound` (the permissions of
    the caller, e.g. a key creating a key). A key made without a creator (the CLI) is unbounded.
    """
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": "Give the key a name of 1–100 characters."})
    try:
        resolved = normalize_scopes(list(scopes))
    except ValueError as exc:
        raise ValidationError({"scopes": str(exc)}) from exc
    if not resolved:
        raise ValidationError({"scopes": "Give at least one scope."})
    allowed = frozenset(PERMISSIONS)
    if created_by is not None:
        membership = Membership.objects.filter(team=team, user=created_by).first()
        allowed = permissions_for(membership.role) if membership else frozenset()
    if bound is not None:
        allowed &= bound
    excess = [scope for scope in resolved if scope not in allowed]
    if excess:
        raise ValidationError({"scopes": f"Beyond what the creator may do in {team.slug}: {', '.join(excess)}."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    prefix, secret, raw = new_key_material()
    key = ApiKey.objects.create(
        team=team,
        name=name,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scopes=resolved,
        created_by=created_by,
        expires_at=expires_at,
    )
    audit_record(
        team=team,
        action=AuditEntry.Action.APIKEY_CREATE,
        target=key,
        target_id=key.prefix,
        target_label=f"{key.name} ({key.prefix})",
        actor=created_by,
        details={"scopes": list(resolved), "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return key, raw


def apikey_revoke(*, key: ApiKey, by: Any = None) -> ApiKey:
    """Revoke a key (idempotent: the first revocation time is kept)."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            team=key.team_id,
            action=AuditEntry.Action.APIKEY_REVOKE,
            target=key,
            target_id=key.prefix,
            target_label=f"{key.name} ({key.prefix})",
            actor=by,
        )
    return key
