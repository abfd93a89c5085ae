"""Job chains at run time: a run's final outcome starts the jobs that follow it (jobs.chains).

Called where runs end for good, inside the transaction that records the end: the result writer (after its
retries are inserted, so a run that will be retried is not final yet) and the reaper's crash. The runs it
starts are published when that transaction commits, like a manual run.

- A job that follows without `after_all`: each final run whose outcome matches starts one run.
- Fan-in (`after_all`): the job runs when the **generation** is complete. A generation is, for each job it
  follows, that job's newest final run with a matching outcome; it is complete when every one exists, none
  has already started this job (through a RunLink), and all of them ended within `after_within_seconds` of
  each other (first to last `finished_at`). So each upstream run counts towards at most one run of the job,
  and an older run never completes a generation once a newer one exists.

Exactly one run per generation, even when two workers end the upstream runs at the same instant:
- the fan-in check holds a row lock on the following job for the rest of the transaction, so two writers
  take turns, and the second reads the first's runs once it has committed (READ COMMITTED reads each
  statement afresh); neither misses a generation the other completed;
- RunLink is unique per (following job, upstream run), so a run can never start the job twice: the second
  insert fails in its savepoint and is dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from history.models import Run, RunLink
from jobs.engine.autopause import FAILED
from jobs.engine.publish import publish_runs
from jobs.models import Job, JobTrigger

SUCCEEDED = (Run.EndReason.SUCCESS,)
# Outcomes that count; skipped, missed and stopped runs start nothing.
REASONS: dict[str, tuple[str, ...]] = {
    JobTrigger.On.SUCCESS: SUCCEEDED,
    JobTrigger.On.FAILURE: FAILED,
    JobTrigger.On.ANY: (*SUCCEEDED, *FAILED),
}
_INSERT_TRIES = 3


@dataclass(frozen=True)
class Ended:
    """A run that has ended for good."""

    run_id: Any
    job_id: Any
    end_reason: str
    finished_at: datetime


def matches(on: str, end_reason: str) -> bool:
    return end_reason in REASONS.get(on, ())


def start_followers(ended: Iterable[Ended], now: datetime) -> list[Run]:
    """Start the runs these final outcomes call for; returns them (published on commit)."""
    counted = [end for end in ended if end.end_reason in REASONS[JobTrigger.On.ANY]]
    if not counted:
        return []
    by_job: dict[str, list[Ended]] = defaultdict(list)
    for end in counted:
        by_job[str(end.job_id)].append(end)
    triggers = list(
        JobTrigger.objects.filter(upstream_id__in=list(by_job), job__enabled=True)
        .select_related("job")
        .order_by("job_id", "position")
    )
    followers: dict[str, list[JobTrigger]] = defaultdict(list)
    for trigger in triggers:
        followers[str(trigger.job_id)].append(trigger)
    started: list[Run] = []
    # By the following job's id, so two writers take the fan-in locks in the same order.
    for job_id in sorted(followers):
        job = followers[job_id][0].job
        if job.after_all:
            run = _fan_in(job, now)
            started += [run] if run is not None else []
            continue
        for trigger in followers[job_id]:
            for end in by_job[str(trigger.upstream_id)]:
                if matches(trigger.on, end.end_reason):
                    run = _start(job, [(end.run_id, trigger.upstream_id, end.end_reason)], now)
                    started += [run] if run is not None else []
    if started:
        publish_runs([run.pk for run in started], now=now, mark_published=False)
    return started


def _fan_in(job: Job, now: datetime) -> Run | None:
    """Start `job` if the generation of its upstream runs is complete (see the module docstring)."""
    # The lock: fan-in checks of one job take turns, each seeing the runs the one before it committed.
    if not Job.objects.select_for_update(no_key=True).filter(pk=job.pk, enabled=True).values_list("pk", flat=True):
        return None
    picked: list[tuple[Any, Any, str, datetime]] = []
    for trigger in JobTrigger.objects.filter(job=job).order_by("position"):
        newest = (
            Run.objects.filter(
                job_id=trigger.upstream_id,
                status=Run.Status.ENDED,
                end_reason__in=REASONS.get(trigger.on, ()),
                finished_at__isnull=False,
                retries__isnull=True,
            )
            .order_by("-finished_at", "-id")
            .values_list("pk", "end_reason", "finished_at")
            .first()
        )
        if newest is None:
            return None
        picked.append((newest[0], trigger.upstream_id, newest[1], newest[2]))
    if not picked:
        return None
    times = [finished for *_, finished in picked]
    if (max(times) - min(times)).total_seconds() > (job.after_within_seconds or 0):
        return None
    if RunLink.objects.filter(job=job, upstream_id__in=[run_id for run_id, *_ in picked]).exists():
        return None  # one of them already started this job: the generation is spent
    return _start(job, [(run_id, upstream_job, reason) for run_id, upstream_job, reason, _ in picked], now)


def _start(job: Job, upstream: list[tuple[Any, Any, str]], now: datetime) -> Run | None:
    """Insert the run `upstream` [(run, its job, its outcome)] starts, with its links; None if it already has."""
    slot = now if now.microsecond else now + timedelta(microseconds=1)  # never a whole-second cron slot
    for attempt in range(_INSERT_TRIES):
        run = Run(
            job=job,
            team_id=job.team_id,
            run_name=f"{job.natural_id}-{now:%Y%m%d%H%M%S}",
            triggered_by=Run.Trigger.CHAIN,
            attempt=1,
            backoff_limit=job.retry_limit,
            status=Run.Status.PENDING,
            scheduled_for=slot + timedelta(microseconds=attempt),
            published_at=now,
        )
        try:
            with transaction.atomic():
                run.save(force_insert=True)
                RunLink.objects.bulk_create(
                    RunLink(run=run, job=job, upstream_id=run_id, upstream_job_id=upstream_job, outcome=reason)
                    for run_id, upstream_job, reason in upstream
                )
            return run
        except IntegrityError:
            if RunLink.objects.filter(job=job, upstream_id__in=[run_id for run_id, *_ in upstream]).exists():
                return None  # another writer started it from these runs first
            # Else the slot was taken (another run of the job in the same microsecond): the next one.
    return None
