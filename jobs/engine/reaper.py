"""The reaper: settles runs that the workers lost.

Beat calls it every 30 s (task `hourglass.reap`).
- A `running` run whose lease has expired belonged to a worker that died (kill -9, OOM, a lost
  machine): it ends `crashed`, its unfinished steps end too, and it is retried if the job's
  retry limit allows.
- A `pending` run claimed by an engine that never sent it (staged, then the process died before
  the slot) has a lapsed claim: it goes back to plain `pending` as the same attempt and is
  published again.
- A `pending` run that was published a while ago and is still unclaimed lost its message (a
  broker restart, a worker killed while holding it): it is published again. The run row is
  the truth; a duplicate message is harmless because the engine claims runs with a
  conditional UPDATE.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from alerts import events as alert_events
from history.models import Run, RunStep
from history.rollups import ended_of, rollup_ended
from jobs import metrics
from jobs.engine.autopause import pause_failing_jobs
from jobs.engine.chains import Ended, start_followers
from jobs.engine.dispatch import lock_skip_locked
from jobs.engine.publish import Publisher, publish_runs
from jobs.engine.retries import schedule_retry

CHUNK_SIZE = 500
MAX_LAPSED_CLAIMS = 5
CLAIM_RELEASE_DELAY_S = 10.0
CRASHED_ERROR = "Crashed: the worker stopped before the run finished (its lease expired)."
ABANDONED_ERROR = "Crashed: the worker shut down before the run finished."


def release_delay() -> timedelta:
    """How long after a claim lapsed the reaper releases it (at most the lease grace itself).

    An engine sends nothing in the last seconds of its claim (engine.LEASE_MARGIN_S), but a run it
    sent just before still has to be written `running`, and under load that write can wait
    seconds. Releasing at once let another engine send such a run a second time.
    """
    grace = float(getattr(settings, "HOURGLASS_LEASE_GRACE_SECONDS", 30))
    return timedelta(seconds=min(CLAIM_RELEASE_DELAY_S, grace))


def republish_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "HOURGLASS_REPUBLISH_AFTER_SECONDS", 30))


def crash(run_id: UUID | str, now: datetime, *, engine_id: str | None = None) -> tuple[bool, bool]:
    """End one run as crashed, unless its worker finished it meanwhile; returns (crashed, retried).

    The reaper crashes a `running` run whose lease expired; an engine shutting down (`engine_id`)
    crashes the runs it still had in flight, sent or about to be marked sent.
    """
    if engine_id is None:
        query = Run.objects.filter(pk=run_id, status=Run.Status.RUNNING, lease_expires_at__lt=now)
        error = CRASHED_ERROR
    else:
        query = Run.objects.filter(pk=run_id, status__in=(Run.Status.PENDING, Run.Status.RUNNING), worker=engine_id)
        error = ABANDONED_ERROR
    with transaction.atomic():
        ended = query.update(
            status=Run.Status.ENDED,
            end_reason=Run.EndReason.CRASHED,
            finished_at=now,
            lease_expires_at=None,
            error=error,
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
        rollup_ended(ended_of([run], now))
        retried = schedule_retry(run, now) is not None
        end = alert_events.RunEnd(run.pk, run.job_id, run.team_id, run.end_reason, now, final=not retried, error=error)
        alert_events.safely(alert_events.runs_ended, [end])
        if not retried:
            pause_failing_jobs([run.job_id])
            start_followers([Ended(run.pk, run.job_id, Run.EndReason.CRASHED, now)], now)
        return True, retried


def release_lapsed_claims(now: datetime, publisher: Publisher | None = None) -> int:
    """Staged runs whose engine never sent them (its process died): plain `pending` again, published.

    They are the same attempt: nothing was sent, so nothing counts against the retry limit. Each
    keeps a record of the lapsed claim (`data.lapsed_claims`: the engine and when its claim ended),
    because an engine killed, or cut off from the database, between sending a request and writing
    that it had may have sent it after all.
    """
    lapsed = Run.objects.filter(status=Run.Status.PENDING, lease_expires_at__lt=now - release_delay())
    lapsed = lapsed.order_by("lease_expires_at")
    released = 0
    while True:
        with transaction.atomic():
            rows = list(lock_skip_locked(lapsed.only("pk", "worker", "lease_expires_at", "data")[:CHUNK_SIZE]))
            for run in rows:
                run.data = _with_lapsed_claim(run)
                run.worker, run.lease_expires_at = "", None
            if rows:
                Run.objects.bulk_update(rows, ["data", "worker", "lease_expires_at"])
                released += publish_runs([run.pk for run in rows], now=now, publisher=publisher)
        if len(rows) < CHUNK_SIZE:
            return released


def _with_lapsed_claim(run: Run) -> dict:
    """The run's data with this lapsed claim recorded (the latest few): if that engine did send the
    request before it died or lost the database, the target sees this attempt twice, with the
    same Idempotency-Key, and the run says why."""
    data = dict(run.data) if isinstance(run.data, dict) else {}
    claim = {
        "worker": run.worker,
        "lease_expired_at": run.lease_expires_at.isoformat() if run.lease_expires_at else None,
    }
    data["lapsed_claims"] = [*list(data.get("lapsed_claims") or [])[-(MAX_LAPSED_CLAIMS - 1) :], claim]
    return data


def crash_expired(now: datetime) -> tuple[int, int]:
    """End every running run whose lease expired before `now`; returns (crashed, retried)."""
    expired = Run.objects.filter(status=Run.Status.RUNNING, lease_expires_at__lt=now).order_by("lease_expires_at")
    crashed = retried = 0
    while True:
        run_ids = list(expired.values_list("pk", flat=True)[:CHUNK_SIZE])
        for run_id in run_ids:
            was_crashed, was_retried = crash(run_id, now)
            crashed += was_crashed
            retried += was_retried
        if len(run_ids) < CHUNK_SIZE:
            return crashed, retried


def republish_stale(now: datetime, publisher: Publisher | None = None) -> int:
    """Publish again the pending runs that no worker claimed within the republish delay."""
    stale_before = now - republish_after()
    stale = (
        Run.objects.filter(status=Run.Status.PENDING, scheduled_for__lte=stale_before, lease_expires_at__isnull=True)
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
            published += publish_runs(rows, now=now, publisher=publisher)
        if len(rows) < CHUNK_SIZE:
            return published


def reap(now: datetime | None = None, *, publisher: Publisher | None = None) -> dict[str, int]:
    now = now or timezone.now()
    crashed, retried = crash_expired(now)
    released = release_lapsed_claims(now, publisher)
    republished = republish_stale(now, publisher)
    return {"crashed": crashed, "retried": retried, "released": released, "republished": republished}
