"""Writes on teams, members and jobs. Views, the API, commands and the admin call these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from jobs import schedules
from jobs.audit import audit_record
from jobs.auth import hash_secret, new_key_material
from jobs.calendar_services import attach_calendars
from jobs.chains import triggers_replace
from jobs.crypto import encrypt_config
from jobs.models import ApiKey, AuditEntry, Job, JobCalendar, JobStep, Membership, Team
from jobs.redact import REDACTED, is_secret_name, redact_url
from jobs.roles import PERMISSIONS, Role, normalize_scopes, permissions_for
from jobs.secrets import DroppedSecret, audit_details, context_of, guarded, keep_stored_secrets, shown_config
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
    "jitter_seconds",
    "start_at",
    "end_at",
    "max_runs",
    "pause_after_failures",
    "after",
    "after_all",
    "after_within_seconds",
    "anomaly_window",
    "anomaly_min_samples",
    "anomaly_duration_k",
    "anomaly_size_factor",
    "anomaly_json_field",
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
        current = Membership.objects.select_for_update().select_related("user").filter(team=team, user=user).first()
        if current is not None and current.role == Role.ADMIN and role != Role.ADMIN:
            _keep_an_admin(current, "demoted")
        # The audit log records the change (jobs.audit's Membership signals, which also see the admin's edits).
        membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership


# Members from the dashboard: add (an existing user, or a new one invited by email), change a role, remove.
# A team keeps at least one admin, so someone can always manage it.


def member_add(*, team: Team, who: str, role: str) -> tuple[Membership, bool]:
    """Add the user named by `who` (username or email) with `role`; an unknown email makes a new user
    without a password (they set one from an invitation). Returns the membership and whether the user is new."""
    who = (who or "").strip()
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use one of {', '.join(Role.values)}."})
    if not who:
        raise ValidationError({"who": "Give a username or an email address."})
    user_model = get_user_model()
    with transaction.atomic():
        users = list(user_model.objects.filter(username=who)) or list(user_model.objects.filter(email__iexact=who))
        if len(users) > 1:
            raise ValidationError({"who": f"Several users have the email {who}; give a username instead."})
        created = not users
        if created:
            try:
                validate_email(who)
            except ValidationError:
                raise ValidationError(
                    {"who": f"No user {who!r}. To invite someone new, give their email address."}
                ) from None
            user = user_model(username=who[:150], email=who)
            user.set_unusable_password()
            user.full_clean(exclude=["password"])
            user.save()
        else:
            user = users[0]
            if Membership.objects.filter(team=team, user=user).exists():
                raise ValidationError({"who": f"{user.get_username()} is already a member; change their role below."})
        # jobs.audit's Membership signals record the addition.
        membership = Membership.objects.create(team=team, user=user, role=role)
    return membership, created


def _keep_an_admin(membership: Membership, verb: str) -> None:
    admins = list(
        Membership.objects.select_for_update()
        .filter(team_id=membership.team_id, role=Role.ADMIN)
        .values_list("pk", flat=True)
    )
    if admins == [membership.pk]:
        raise Conflict(
            f"{membership.user.get_username()} is the team's last admin and cannot be {verb}:"
            " make someone else admin first."
        )


def member_change_role(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use one of {', '.join(Role.values)}."})
    with transaction.atomic():
        current = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if current.role == Role.ADMIN and role != Role.ADMIN:
            _keep_an_admin(current, "demoted")
        current.role = role
        current.save(update_fields=["role"])
    return current


def member_remove(*, membership: Membership) -> None:
    with transaction.atomic():
        current = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if current.role == Role.ADMIN:
            _keep_an_admin(current, "removed")
        current.delete()


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
    # Every kind keeps its zone: a one-off's time and an interval's start are shown on that clock.
    job.timezone = schedule.timezone or "UTC"
    job.interval_seconds = schedule.interval_seconds if schedule.kind == schedules.INTERVAL else None
    job.run_at = schedule.run_at


def job_next_run_at(job: Job, after: datetime | None = None) -> datetime | None:
    if job.max_runs is not None and job.fired_runs >= job.max_runs:
        return None
    return schedules.next_fire(job.schedule, after or timezone.now())


def _set_next_run_at(job: Job) -> None:
    """The job's next slot; a job whose active window is over is turned off, saying why."""
    job.next_run_at = job_next_run_at(job) if job.enabled else None
    reason = job.window_end_reason(job.next_run_at) if job.enabled else ""
    if reason:
        job.enabled, job.paused_reason, job.next_run_at = False, reason, None


def _replace_steps(job: Job, steps: list[dict[str, Any]], before: dict[str, str] | None = None) -> list[DroppedSecret]:
    """Save `steps` in place of the job's; a placeholder keeps a stored secret only where jobs.secrets allows.

    `before` is the job's context_of() ahead of this write (its variables and names may have changed).
    """
    stored = {step.name: step.config for step in job.steps.all()}
    after = context_of(job)
    dropped = keep_stored_secrets(steps, stored, job.secret_headers or (), before or after, after)
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
    return dropped


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
    calendars: list[dict[str, str]] | None = None,
    **options: Any,
) -> Job:
    unknown = set(options) - set(JOB_OPTION_FIELDS)
    if unknown:
        raise TypeError(f"unknown job options: {', '.join(sorted(unknown))}")
    after = options.pop("after", None)
    job = Job(team=team, natural_id=natural_id, created_by=created_by, **options)
    if not job.name:
        job.name = natural_id
    _apply_schedule(job, schedule)
    job.full_clean(validate_unique=False, validate_constraints=False)
    if Job.objects.filter(team=team, natural_id=natural_id).exists():
        raise ValidationError({"natural_id": f"A job {natural_id!r} already exists in team {team.slug!r}."})
    job.save()
    # next_run_at depends on created_at (the interval anchor), so it is set after the insert.
    _set_next_run_at(job)
    job.save(update_fields=["next_run_at", "enabled", "paused_reason"])
    job.dropped_secrets = _replace_steps(job, steps)
    if calendars:
        attach_calendars(job, calendars)
    if after:
        triggers_replace(job, after)
    audit_record(
        team=team,
        action=AuditEntry.Action.JOB_CREATE,
        target=job,
        actor=created_by,
        details={
            "schedule": _schedule_text(job),
            "enabled": job.enabled,
            "steps": len(steps),
            **({"calendars": calendars} if calendars else {}),
            **audit_details(job.dropped_secrets),
        },
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
    calendars: list[dict[str, str]] | None = None,
    **options: Any,
) -> Job:
    """Change a job; `steps` and `calendars` replace the job's when given (None keeps them)."""
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
    before = context_of(job)
    state_before = _audit_state(job)
    after = options.pop("after", None)
    for field, value in options.items():
        setattr(job, field, value)
    if schedule is not None:
        _apply_schedule(job, schedule)
    job.full_clean(validate_unique=False, validate_constraints=False)
    if options.get("enabled"):
        job.paused_reason = ""
    if schedule is not None or {"enabled", "natural_id", "start_at", "end_at", "max_runs"} & set(options):
        # A new ID moves the slots an `H` in the schedule picks.
        _set_next_run_at(job)
    job.save()
    if calendars is not None:
        attach_calendars(job, calendars)
    if after is not None:
        triggers_replace(job, after)
    dropped: list[DroppedSecret] = []
    if steps is not None:
        dropped = _replace_steps(job, steps, before)
    elif {"secret_headers", "variables", "natural_id", "name"} & set(options):
        for step in job.steps.all():
            config, gone = guarded(step.config, step.name, job.secret_headers or (), before, context_of(job))
            dropped += gone
            if config != step.config:
                JobStep.objects.filter(pk=step.pk).update(config=config)
    job.dropped_secrets = dropped
    changes = _audit_changes(state_before, _audit_state(job))
    if list(changes) == ["enabled"]:
        action = AuditEntry.Action.JOB_RESUME if job.enabled else AuditEntry.Action.JOB_PAUSE
    else:
        action = AuditEntry.Action.JOB_UPDATE
    audit_record(
        team=job.team_id,
        action=action,
        target=job,
        details={"fields": list(changes), "changes": changes, **audit_details(dropped)},
    )
    return job


# What the audit log compares across a change: the job's fields, its schedule and its steps as anyone may see them.
_AUDITED_FIELDS: tuple[str, ...] = (*JOB_OPTION_FIELDS, "natural_id", "schedule_kind", "cron_expression", "timezone")
_AUDITED_FIELDS += ("interval_seconds", "run_at")


def _audit_state(job: Job) -> dict[str, Any]:
    marked = job.secret_headers or ()
    state = {field: getattr(job, field) for field in _AUDITED_FIELDS}
    for field in ("run_at", "start_at", "end_at"):
        moment = getattr(job, field)
        state[field] = moment.isoformat() if moment else None
    # A variable named like a secret (api_token, password) is kept out, as a secret header's value is.
    variables = job.variables if isinstance(job.variables, dict) else {}
    state["calendars"] = [
        {"calendar": link.calendar.name, "mode": link.mode}
        for link in JobCalendar.objects.filter(job=job).select_related("calendar").order_by("position")
    ]
    state["variables"] = {name: REDACTED if is_secret_name(name) else value for name, value in variables.items()}
    state["steps"] = [
        {
            "name": step.name,
            "kind": step.kind,
            "run_if": step.run_if,
            "depends_on": step.depends_on,
            "config": _audited_config(step.config or {}, marked),
        }
        for step in JobStep.objects.filter(job=job).order_by("position", "name")
    ]
    return state


def _audited_config(config: dict[str, Any], marked: Any) -> dict[str, Any]:
    shown = shown_config(config, marked)
    if isinstance(shown.get("url"), str):
        shown["url"] = redact_url(shown["url"], tuple(marked))
    return shown


def _audit_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"old", "new"}} for the fields that changed; secret header values are only ever [redacted]."""
    return {field: {"old": before[field], "new": after[field]} for field in after if before.get(field) != after[field]}


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
