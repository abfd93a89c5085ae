"""Writes on runs: manual trigger, cancel and rerun (the API and dashboard call these)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from history.models import Run, RunStep
from history.rollups import ended_of, rollup_ended
from jobs import metrics
from jobs.audit import audit_record
from jobs.engine.publish import publish_runs
from jobs.models import AuditEntry, Job
from jobs.secrets import moved_by_variables

MAX_VARIABLES = 100


def _user_id(by: AbstractBaseUser | AnonymousUser | None) -> Any:
    return by.pk if by is not None and getattr(by, "is_authenticated", False) else None


def _manual_slot(now: datetime) -> datetime:
    # Cron slots are whole seconds; a manual run keeps its microseconds so it never takes a
    # slot's place under the unique (job, scheduled_for, attempt).
    return now if now.microsecond else now + timedelta(microseconds=1)


def _clean_variables(variables: Any) -> dict[str, Any]:
    if variables is None:
        return {}
    if not isinstance(variables, dict) or not all(isinstance(name, str) and name for name in variables):
        raise ValidationError({"variables": "Variables must be an object of name: value."})
    if len(variables) > MAX_VARIABLES:
        raise ValidationError({"variables": f"At most {MAX_VARIABLES} variables."})
    text = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    size, limit = len(text.encode("utf-8", "surrogatepass")), settings.HOURGLASS_MAX_RUN_VARIABLES_BYTES
    if size > limit:
        raise ValidationError({"variables": f"The variables take {size} bytes as JSON; at most {limit} are allowed."})
    return dict(variables)


def _audit_run(run: Run, action: str, by: Any, **details: Any) -> None:
    audit_record(team=run.team_id, action=action, target=run, target_label=run.run_name, actor=by, details=details)


def _start_manual_run(
    *,
    job: Job,
    by: AbstractBaseUser | AnonymousUser | None,
    triggered_by: str,
    variables: dict[str, Any],
    data: dict[str, Any],
) -> Run:
    if triggered_by not in Run.Trigger.values or triggered_by == Run.Trigger.CRON:
        raise ValidationError({"triggered_by": f"Unknown trigger {triggered_by!r}; use api or dashboard."})
    now = timezone.now()
    run = Run(
        job=job,
        team_id=job.team_id,
        run_name=f"{job.natural_id}-{now:%Y%m%d%H%M%S}",
        triggered_by=triggered_by,
        triggered_by_user_id=_user_id(by),
        attempt=1,
        backoff_limit=job.retry_limit,
        status=Run.Status.PENDING,
        scheduled_for=_manual_slot(now),
        variables=variables,
        data=data,
        published_at=now,
    )
    with transaction.atomic():
        run.save(force_insert=True)
        publish_runs([run.pk], now=now, mark_published=False)
        action = AuditEntry.Action.RUN_RERUN if data.get("rerun_of") else AuditEntry.Action.RUN_TRIGGER
        # Variable names only: their values may be secrets.
        _audit_run(run, action, by, job=job.natural_id, variables=sorted(variables), **data)
    return run


def _keep_secrets_home(job: Job, variables: dict[str, Any]) -> None:
    """Refuse run variables that would point a step holding secrets at another origin (jobs.secrets)."""
    moved = moved_by_variables(job, variables) if variables else []
    if moved:
        raise ValidationError(
            {
                "variables": f"These variables would send the secret headers of step {', '.join(moved)} to another"
                " origin (scheme, host or port); a run's variables may not change where secrets go."
            }
        )


def run_trigger(
    *,
    job: Job,
    by: AbstractBaseUser | AnonymousUser | None,
    triggered_by: str = "api",
    variables: dict[str, Any] | None = None,
) -> Run:
    """Run the job now. Manual runs ignore the overlap policy (as Northflank's do)."""
    clean = _clean_variables(variables)
    _keep_secrets_home(job, clean)
    return _start_manual_run(job=job, by=by, triggered_by=triggered_by, variables=clean, data={})


def run_rerun(*, run: Run, by: AbstractBaseUser | AnonymousUser | None, triggered_by: str = "api") -> Run:
    """A new run of the same job now, with the original run's variables."""
    return _start_manual_run(
        job=run.job, by=by, triggered_by=triggered_by, variables=dict(run.variables), data={"rerun_of": str(run.pk)}
    )


def run_cancel(*, run: Run, by: AbstractBaseUser | AnonymousUser | None) -> Run:
    """Stop a run: a pending one ends `stopped` at once; a running one is asked to stop.

    The executor polls cancel_requested_at between reads and interrupts the request; if its
    worker is gone, the reaper ends the run when the lease runs out.
    """
    now = timezone.now()
    who = getattr(by, "username", "") if _user_id(by) else ""
    with transaction.atomic():
        stopped = Run.objects.filter(pk=run.pk, status=Run.Status.PENDING).update(
            status=Run.Status.ENDED,
            end_reason=Run.EndReason.STOPPED,
            finished_at=now,
            error=f"Stopped by {who}." if who else "Stopped.",
        )
        if stopped:
            RunStep.objects.filter(run_id=run.pk, status__in=(RunStep.Status.WAITING, RunStep.Status.RUNNING)).update(
                status=RunStep.Status.CANCELED, finished_at=now
            )
        else:
            Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, cancel_requested_at__isnull=True).update(
                cancel_requested_at=now
            )
    run.refresh_from_db()
    if stopped:
        metrics.runs_ended([run])
        rollup_ended(ended_of([run], now))
    if not stopped and run.status == Run.Status.ENDED:
        raise Conflict("The run has already ended.")
    _audit_run(run, AuditEntry.Action.RUN_CANCEL, by, status=run.status)
    return run


# Deleting in batches keeps each transaction (and its locks) short on a large history.
DELETE_BATCH = 1000


def run_delete(*, run: Run, by: AbstractBaseUser | AnonymousUser | None = None) -> None:
    """Delete one ended run and its steps; a pending or running run must be cancelled first."""
    if run.is_active:
        raise Conflict(f"The run is {run.status}; cancel it first.")
    with transaction.atomic():
        _audit_run(run, AuditEntry.Action.RUN_DELETE, by, end_reason=run.end_reason)
        run.delete()


def runs_delete(
    *, queryset: Any, by: AbstractBaseUser | AnonymousUser | None = None, batch_size: int = DELETE_BATCH
) -> int:
    """Delete the ended runs in `queryset` batch by batch; pending and running runs are kept. Returns the count."""
    ended = queryset.order_by().filter(status=Run.Status.ENDED)
    deleted = 0
    per_team: dict[int, int] = {}
    while True:
        rows = list(ended.values_list("pk", "team_id")[:batch_size])
        ids = [pk for pk, _ in rows]
        if not ids:
            _audit_bulk_delete(per_team, by)
            return deleted
        _, per_model = Run.objects.filter(pk__in=ids, status=Run.Status.ENDED).delete()
        removed = per_model.get(Run._meta.label, 0)
        if removed == 0:
            _audit_bulk_delete(per_team, by)
            return deleted  # another delete took this batch; nothing of ours is left
        deleted += removed
        for _, team_id in rows:
            per_team[team_id] = per_team.get(team_id, 0) + 1


def _audit_bulk_delete(per_team: dict[int, int], by: Any) -> None:
    for team_id, count in per_team.items():
        audit_record(
            team=team_id,
            action=AuditEntry.Action.RUN_BULK_DELETE,
            target_type="run",
            actor=by,
            details={"count": count},
        )
