"""The reaper: settles runs that the workers lost.

Beat calls it every 30 s (task `hourglass.reap`).
- A `running` run whose lease has expired belonged to a worker that died (kill -9, OOM, a lost
  machine): it ends `crashed`, its unfinished steps end too, and it is retried if the job's
  retry limit allows.
- A `pending` run that was published a while ago and is still unclaimed lost its message (a
  broker restart, a worker killed while holding it): it is published again. The run row is
  the truth; a duplicate message is harmless because the executor claims runs with a
  conditional UPDATE.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from history.models import Run, RunStep
from jobs import metrics
from jobs.dispatch import lock_skip_locked
from jobs.publish import Publisher, publish_runs
from jobs.retries import schedule_retry

CHUNK_SIZE = 500
CRASHED_ERROR = "Crashed: the worker stopped before the run finished (its lease expired)."


def republish_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "HOURGLASS_REPUBLISH_AFTER_SECONDS", 30))


def _crash(run_id: object, now: datetime) -> tuple[bool, bool]:
    """End one run as crashed, unless its worker finished it meanwhile; returns (crashed, retried)."""
    with transaction.atomic():
        ended = Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, lease_expires_at__lt=now).update(
            status=Run.Status.ENDED,
            end_reason=Run.EndReason.CRASHED,
            finished_at=now,
            lease_expires_at=None,
            error=CRASHED_ERROR,
        )
        if not ended:
            return False, False
        RunStep.objects.filter(run_id=run_id, status=RunStep.Status.RUNNING).update(
            status=RunStep.Status.ERROR, error="Crashed", finished_at=now
        )
        RunStep.objects.filter(run_id=run_id, status=RunStep.Status.WAITING).update(
            status=RunStep.Status.CANCELED, finished_at=now
        )
        run = Run.objects.select_related("job").get(pk=run_id)
        if run.started_at is not None:
            run.duration_ms = max(0, int((now - run.started_at).total_seconds() * 1000))
            run.save(update_fields=["duration_ms"])
        metrics.runs_ended([run])
        return True, schedule_retry(run, now) is not None


def crash_expired(now: datetime) -> tuple[int, int]:
    """End every running run whose lease expired before `now`; returns (crashed, retried)."""
    expired = Run.objects.filter(status=Run.Status.RUNNING, lease_expires_at__lt=now).order_by("lease_expires_at")
    crashed = retried = 0
    while True:
        run_ids = list(expired.values_list("pk", flat=True)[:CHUNK_SIZE])
        for run_id in run_ids:
            was_crashed, was_retried = _crash(run_id, now)
            crashed += was_crashed
            retried += was_retried
        if len(run_ids) < CHUNK_SIZE:
            return crashed, retried


def republish_stale(now: datetime, publisher: Publisher | None = None) -> int:
    """Publish again the pending runs that no worker claimed within the republish delay."""
    stale_before = now - republish_after()
    stale = (
        Run.objects.filter(status=Run.Status.PENDING, scheduled_for__lte=stale_before)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=stale_before))
        # A retry that was never published is the dispatcher's; only lost messages come here.
        .filter(Q(published_at__lte=stale_before) | Q(published_at__isnull=True, not_before__isnull=True))
        .order_by("scheduled_for")
    )
    published = 0
    while True:
        with transaction.atomic():
            rows = list(lock_skip_locked(stale.values_list("pk", flat=True)[:CHUNK_SIZE]))
            # published_at moves to now, so this loop never sees the same run twice.
            published += publish_runs(((run_id, None) for run_id in rows), now=now, publisher=publisher)
        if len(rows) < CHUNK_SIZE:
            return published


def reap(now: datetime | None = None, *, publisher: Publisher | None = None) -> dict[str, int]:
    now = now or timezone.now()
    crashed, retried = crash_expired(now)
    republished = republish_stale(now, publisher)
    return {"crashed": crashed, "retried": retried, "republished": republished}
