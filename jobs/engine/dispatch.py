"""The dispatcher: turns due job slots into pending runs and publishes them.

Beat calls it every second (task `hourglass.dispatch`). It is idempotent and safe to run
several at once: on PostgreSQL each chunk of due jobs is claimed with SELECT … FOR UPDATE SKIP
LOCKED; on SQLite the IMMEDIATE transaction takes the database's write lock, so dispatchers
run one at a time. The unique (job, scheduled_for, attempt) constraint is the last line of
defence: a slot that comes round twice (say, a job edit wrote back a stale next_run_at)
inserts nothing the second time.

Look-ahead. Slots up to LOOKAHEAD ahead are claimed now and published at once: the worker's
engine stages them (load, plan, claim) while there is time and sends each on its slot, so the
work of a crowded second is done before it. Jobs with an overlap policy other than `allow` are
claimed at most OVERLAP_LOOKAHEAD ahead, because whether their previous run is still active is
decided when the slot is claimed.

Misfires. A slot older than now - misfire_grace_seconds was missed (Beat or the database was
down). However many slots were missed, the dispatcher records ONE ended `missed` run, for the
latest missed slot (its `data` names the first one too), and at most ONE catch-up run: the
latest slot that is still within the grace, if there is one. Slots within the grace that come
before the catch-up do not fire either, so the missed run's span reaches up to the catch-up:
every slot is either fired or inside a missed run's `missed_from`..`missed_until`. Both are real slots, so the
unique constraint holds with no special case, and there is never a burst. A job that is late
but within its grace (a slow tick) fires every slot, so "one run per slot" survives hiccups.

Calendars. A slot that a job's calendars remove (an `exclude` calendar holds it, or an `only` calendar does not) is
recorded as an ended `skipped` run whose error and `data.skip_reason` say `calendar:<name>`, so history shows the
gap. Such a slot does not count against `maxRuns`, and the job's next slot is its schedule's, as for any slot.

Overlap. Decided when the slot is claimed, which may be up to LOOKAHEAD before it: `forbid`
records a `skipped` run while the job has a pending or running run; `replace` stops those
(run_cancel) and creates the new run. Such jobs fire at most one slot per tick, so a tick
never decides against a run it created itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from alerts import events as alert_events
from core.errors import Conflict
from history.models import Run
from history.rollups import ended_of, rollup_ended
from history.services import run_cancel
from jobs import metrics
from jobs.audit import audit_record
from jobs.calendar_services import attached_for_jobs
from jobs.calendars import Attached, removed_by
from jobs.engine import tracing
from jobs.engine.db import update_rows
from jobs.engine.new_runs import NewRun, insert_new_runs
from jobs.engine.publish import Publisher, publish_runs
from jobs.models import AuditEntry, Job
from jobs.schedules import Schedule, jitter_offset, next_fire, spread_seed

CHUNK_SIZE = 1000
# Bounds the slots one tick creates for one `allow` job (a 1 s job after a slow tick); any
# rest fire on the next tick.
MAX_SLOTS_PER_TICK = 60
_ONE_US = timedelta(microseconds=1)


@dataclass
class SlotPlan:
    fire: list[datetime]
    missed: tuple[datetime, datetime] | None  # (first, latest) missed slot
    next_run_at: datetime | None
    # Slots of `fire` that a calendar removes, with the reason (calendar:<name>): recorded as skipped runs.
    skipped: dict[datetime, str] = field(default_factory=dict)


Remover = Callable[[datetime], str]


OVERLAP_LOOKAHEAD = timedelta(seconds=1)
# What planning a due job's slots reads; the rest of a job (its variables, its success rule) is
# the engine's, when it stages the runs.
PLANNED_FIELDS = (
    "team_id",
    "natural_id",
    "enabled",
    "schedule_kind",
    "cron_expression",
    "timezone",
    "interval_seconds",
    "run_at",
    "created_at",
    "next_run_at",
    "retry_limit",
    "overlap_policy",
    "misfire_grace_seconds",
    "jitter_seconds",
    "start_at",
    "end_at",
    "max_runs",
    "fired_runs",
    "paused_reason",
)


def lookahead() -> timedelta:
    return timedelta(milliseconds=getattr(settings, "HOURGLASS_DISPATCH_LOOKAHEAD_MS", 10000))


def overlap_lookahead() -> timedelta:
    return min(lookahead(), OVERLAP_LOOKAHEAD)


def lock_skip_locked(queryset: models.QuerySet) -> models.QuerySet:
    """FOR UPDATE SKIP LOCKED where the database has it; SQLite's IMMEDIATE lock covers the rest."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset


def latest_slot_before(schedule: Schedule, first: datetime, bound: datetime) -> datetime:
    """The latest slot < bound, given that `first` is a slot < bound.

    It searches back from `bound` in doubling windows, so a week-long outage of a one-second
    job costs a few dozen schedule evaluations, not one per missed slot.
    """
    window = timedelta(seconds=1)
    while True:
        start = bound - window
        candidate = first if start <= first else next_fire(schedule, start - _ONE_US)
        if candidate is not None and candidate < bound:
            while (following := next_fire(schedule, candidate)) is not None and following < bound:
                candidate = following
            return candidate
        window *= 2


def plan_slots(job: Job, now: datetime, horizon: datetime, removed: Remover | None = None) -> SlotPlan:
    """Which slots of a due job to fire now, what was missed, and the job's next slot.

    `removed` says why a slot is removed by the job's calendars ("" when it fires); only slots that fire count
    against maxRuns."""
    schedule = job.schedule
    slot: datetime | None = job.next_run_at
    assert slot is not None  # noqa: S101 - only due jobs (next_run_at <= horizon) get here
    cutoff = now - timedelta(seconds=job.misfire_grace_seconds)
    missed = None
    if slot < cutoff:
        first_missed, latest_missed = slot, latest_slot_before(schedule, slot, cutoff)
        slot = next_fire(schedule, latest_missed)  # the first slot within the grace, or later
        if slot is not None and slot <= now:
            catch_up = latest_slot_before(schedule, slot, now + _ONE_US)  # the one catch-up
            if catch_up != slot:
                # Slots within the grace but before the catch-up do not fire either (no burst):
                # the missed run covers them too, so every slot has its record.
                latest_missed = latest_slot_before(schedule, slot, catch_up)
            slot = catch_up
        missed = (first_missed, latest_missed)
    limit = MAX_SLOTS_PER_TICK if job.overlap_policy == Job.Overlap.ALLOW else 1
    runs_left = None if job.max_runs is None else max(0, job.max_runs - job.fired_runs)
    fire: list[datetime] = []
    skipped: dict[datetime, str] = {}
    while slot is not None and slot <= horizon and len(fire) < limit:
        if runs_left is not None and len(fire) - len(skipped) >= runs_left:
            return SlotPlan(fire=fire, missed=missed, next_run_at=None, skipped=skipped)
        fire.append(slot)
        reason = removed(slot) if removed is not None else ""
        if reason:
            skipped[slot] = reason
        slot = next_fire(schedule, slot)
    return SlotPlan(fire=fire, missed=missed, next_run_at=slot, skipped=skipped)


def _new_run(job: Job, slot: datetime, status: str, **fields: Any) -> NewRun:
    return NewRun(
        job_id=job.pk,
        team_id=job.team_id,
        run_name=f"{job.natural_id}-{slot:%Y%m%d%H%M%S}",
        backoff_limit=job.retry_limit,
        status=status,
        scheduled_for=slot,
        **fields,
    )


def _ended_run(job: Job, slot: datetime, now: datetime, reason: str, error: str, **fields: Any) -> NewRun:
    return _new_run(job, slot, Run.Status.ENDED, end_reason=reason, finished_at=now, error=error, **fields)


def _missed_run(job: Job, missed: tuple[datetime, datetime], now: datetime) -> NewRun:
    first, latest = missed
    error = f"Missed: not started within the misfire grace of {job.misfire_grace_seconds} s."
    data = {"missed_from": first.isoformat(), "missed_until": latest.isoformat()}
    return _ended_run(job, latest, now, Run.EndReason.MISSED, error, data=data)


def _active_runs(job_ids: list[UUID]) -> dict[UUID, list[Run]]:
    active: dict[UUID, list[Run]] = defaultdict(list)
    if job_ids:
        for run in Run.objects.active().filter(job_id__in=job_ids).order_by("scheduled_for"):
            active[run.job_id].append(run)
    return active


def _runs_for(job: Job, plan: SlotPlan, active: list[Run], now: datetime) -> list[NewRun]:
    rows = [_missed_run(job, plan.missed, now)] if plan.missed else []
    for slot in plan.fire:
        if slot in plan.skipped:
            reason = plan.skipped[slot]
            error = f"Skipped: {reason} removes this slot."
            rows.append(_ended_run(job, slot, now, Run.EndReason.SKIPPED, error, data={"skip_reason": reason}))
            continue
        if job.overlap_policy == Job.Overlap.FORBID and active:
            error = f"Skipped: run {active[0].pk} was still active (overlap policy forbid)."
            rows.append(_ended_run(job, slot, now, Run.EndReason.SKIPPED, error))
            continue
        if job.overlap_policy == Job.Overlap.REPLACE:
            for run in active:
                try:
                    run_cancel(run=run, by=None)
                except Conflict:
                    pass  # it ended on its own meanwhile
        rows.append(_pending_run(job, slot, now))
    return rows


def _pending_run(job: Job, slot: datetime, now: datetime) -> NewRun:
    """A slot's run: sent at once, or with jitter at its planned time (slot + offset), which the retry path
    publishes when it is due; scheduled_for stays the nominal slot, so lateness counts from the plan."""
    offset = jitter_offset(spread_seed(job.team_id, job.natural_id), slot, job.jitter_seconds)
    if not offset:
        return _new_run(job, slot, Run.Status.PENDING, published_at=now)
    planned = slot + timedelta(seconds=offset)
    return _new_run(job, slot, Run.Status.PENDING, not_before=planned, data={"planned_offset_seconds": offset})


def _remover(attached: list[Attached] | None, job: Job) -> Remover | None:
    if not attached:
        return None
    zone = ZoneInfo(job.timezone or "UTC")
    return lambda slot: removed_by(attached, slot, zone)


def _horizon_of(job: Job, horizon: datetime, guarded_horizon: datetime) -> datetime:
    return horizon if job.overlap_policy == Job.Overlap.ALLOW else guarded_horizon


def _fire(
    jobs: list[Job],
    now: datetime,
    horizon: datetime,
    guarded_horizon: datetime,
    publisher: Publisher | None,
    created_ids: list[Any] | None = None,
) -> int:
    attached = attached_for_jobs(job.pk for job in jobs)
    plans = {
        job.pk: plan_slots(job, now, _horizon_of(job, horizon, guarded_horizon), _remover(attached.get(job.pk), job))
        for job in jobs
    }
    guarded = [
        job.pk
        for job in jobs
        if job.overlap_policy != Job.Overlap.ALLOW and set(plans[job.pk].fire) - set(plans[job.pk].skipped)
    ]
    active = _active_runs(guarded)
    rows: list[NewRun] = []
    for job in jobs:
        plan = plans[job.pk]
        rows.extend(_runs_for(job, plan, active.get(job.pk, []), now))
        job.next_run_at = plan.next_run_at
    inserted = insert_new_runs(rows, now)
    if created_ids is not None:  # tracing is on
        created_ids.extend(inserted)
    _count_and_close_windows(jobs, rows, inserted)
    ended = [
        metrics.EndedRun(run.id, run.job_id, 1, run.end_reason)
        for run in rows
        if run.status == Run.Status.ENDED and run.id in inserted
    ]
    metrics.runs_ended(ended)
    rollup_ended(ended_of(ended, now))
    slots = [run for run in rows if run.status == Run.Status.ENDED and run.id in inserted]
    if slots:
        alert_events.safely(alert_events.slots_ended, slots)
    # One executemany: Django's bulk_update builds a CASE per field per row, which took 0.87 s of
    # a 1.05 s tick for 1,000 due jobs (bench b1); this takes a few milliseconds.
    update_rows(Job, jobs, ["next_run_at", "enabled", "fired_runs", "paused_reason"])
    pending = sorted(
        (run for run in rows if run.status == Run.Status.PENDING and run.pk in inserted), key=lambda r: r.scheduled_for
    )
    publish_runs(
        [run.pk for run in pending if run.published_at is not None], now=now, publisher=publisher, mark_published=False
    )
    return len(inserted)


def _count_and_close_windows(jobs: list[Job], rows: list[NewRun], inserted: set[UUID]) -> None:
    """Count each job's scheduled runs; a job whose active window is over turns itself off, with an audit entry."""
    fired: dict[UUID, int] = defaultdict(int)
    for run in rows:
        if run.status == Run.Status.PENDING and run.pk in inserted:
            fired[run.job_id] += 1
    for job in jobs:
        job.fired_runs += fired.get(job.pk, 0)
        reason = job.window_end_reason(job.next_run_at)
        if reason or job.next_run_at is None:
            job.enabled, job.next_run_at = False, None  # no slot left: a one-off that fired, or a window's end
        if reason:
            job.paused_reason = reason
            audit_record(team=job.team_id, action=AuditEntry.Action.JOB_PAUSE, target=job, details={"reason": reason})


def _due_jobs(horizon: datetime, guarded_horizon: datetime) -> models.QuerySet:
    # Served by the partial index job_due_idx (next_run_at) WHERE enabled.
    due = Job.objects.filter(enabled=True, next_run_at__lte=horizon)
    if guarded_horizon >= horizon:
        return due
    return due.filter(Q(overlap_policy=Job.Overlap.ALLOW) | Q(next_run_at__lte=guarded_horizon))


def _due_retries(horizon: datetime) -> models.QuerySet:
    # Served by run_active_idx (status, not_before) WHERE status IN (pending, running).
    return Run.objects.filter(status=Run.Status.PENDING, not_before__lte=horizon, published_at__isnull=True)


def dispatch(now: datetime | None = None, *, publisher: Publisher | None = None, chunk_size: int = CHUNK_SIZE) -> int:
    """Create the runs of every slot due by now + LOOKAHEAD and publish them, plus due retries.

    Returns the number of runs created (pending, skipped and missed).
    """
    with tracing.dispatch_span() as created_ids:
        return _dispatch(now or timezone.now(), publisher, chunk_size, created_ids)


def _dispatch(now: datetime, publisher: Publisher | None, chunk_size: int, created_ids: list[Any] | None) -> int:
    horizon, guarded_horizon = now + lookahead(), now + overlap_lookahead()
    created = 0
    still_due: set[UUID] = set()
    # An unlocked look first, so an idle tick never takes SQLite's write lock.
    while _due_jobs(horizon, guarded_horizon).exclude(pk__in=still_due).exists():
        with transaction.atomic():
            due = _due_jobs(horizon, guarded_horizon).exclude(pk__in=still_due)
            jobs = list(lock_skip_locked(due.order_by("next_run_at").only(*PLANNED_FIELDS)[:chunk_size]))
            metrics.dispatch_claimed(jobs, now)
            created += _fire(jobs, now, horizon, guarded_horizon, publisher, created_ids) if jobs else 0
        # Jobs with slots left for the next tick (forbid/replace, or the per-tick cap).
        still_due.update(
            job.pk
            for job in jobs
            if job.next_run_at is not None and job.next_run_at <= _horizon_of(job, horizon, guarded_horizon)
        )
        if len(jobs) < chunk_size:
            break
    publish_due_retries(now, publisher=publisher, horizon=horizon, chunk_size=chunk_size)
    metrics.dispatch_tick(created)
    return created


def publish_due_retries(
    now: datetime, *, publisher: Publisher | None = None, horizon: datetime | None = None, chunk_size: int = CHUNK_SIZE
) -> int:
    """Publish retry rows (pending, not_before set, never published) due by the horizon."""
    horizon = horizon or now + lookahead()
    published = 0
    while _due_retries(horizon).exists():
        with transaction.atomic():
            claim = _due_retries(horizon).order_by("not_before").values_list("pk", flat=True)[:chunk_size]
            rows: list[UUID] = list(lock_skip_locked(claim))
            count = publish_runs(rows, now=now, publisher=publisher)
        published += count
        if count < chunk_size:
            break
    return published
