"""pauseAfterFailures: a job whose last N runs failed pauses itself, saying why.

Called where runs end (the result writer, the reaper's crash) with the jobs whose runs just failed for good. One
query finds those that ask for it; only they read their latest runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from alerts import events as alert_events
from history.models import Run
from jobs.audit import audit_record
from jobs.models import AuditEntry, Job

FAILED = (
    Run.EndReason.FAILED,
    Run.EndReason.TIMEOUT,
    Run.EndReason.CRASHED,
    Run.EndReason.BLOCKED,
    Run.EndReason.LOG_OVERFLOW,
)
# Skipped, missed and stopped runs neither break a run of failures nor add to it.
_COUNTED = (*FAILED, Run.EndReason.SUCCESS)


def pause_reason(failures: int) -> str:
    return f"Paused after {failures} failures in a row (pauseAfterFailures)."


def pause_failing_jobs(job_ids: Iterable[UUID | str]) -> list[UUID]:
    """Pause each of these jobs whose last pause_after_failures final runs all failed; returns those paused."""
    ids = set(job_ids)
    if not ids:
        return []
    watched = Job.objects.filter(pk__in=ids, enabled=True, pause_after_failures__isnull=False)
    paused: list[UUID] = []
    announced: list[tuple[UUID, int, str]] = []
    for job in watched.only("pk", "team_id", "natural_id", "pause_after_failures"):
        needed = int(job.pause_after_failures or 0)
        latest = list(
            Run.objects.filter(job_id=job.pk, status=Run.Status.ENDED, end_reason__in=_COUNTED, retries__isnull=True)
            .order_by("-finished_at")
            .values_list("end_reason", flat=True)[:needed]
        )
        if len(latest) < needed or any(reason not in FAILED for reason in latest):
            continue
        reason = pause_reason(needed)
        # Conditional, so two writers ending the same job's runs at once pause it (and audit it) once.
        if Job.objects.filter(pk=job.pk, enabled=True).update(enabled=False, next_run_at=None, paused_reason=reason):
            audit_record(team=job.team_id, action=AuditEntry.Action.JOB_PAUSE, target=job, details={"reason": reason})
            paused.append(job.pk)
            announced.append((job.pk, job.team_id, reason))
    if announced:
        alert_events.safely(alert_events.jobs_paused, announced)
    return paused
