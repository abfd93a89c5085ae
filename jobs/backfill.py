"""Backfill: a run for every slot of a job's schedule in a past range, paced, never doubling a slot.

Each run is a pending row with trigger=backfill, scheduled_for = its slot and not_before = when it is sent (the
pace), so the dispatcher publishes it when due, as it does retries. The unique (job, scheduled_for, attempt)
constraint keeps a slot that already has a run from getting a second: such slots are reported instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from history.models import Run
from jobs import schedules
from jobs.audit import audit_record
from jobs.models import AuditEntry, Job

MAX_SLOTS = 1000
MAX_RATE = 100.0
_ONE_US = timedelta(microseconds=1)


@dataclass
class BackfillResult:
    slots: list[datetime]
    created: list[Run] = field(default_factory=list)
    existing: list[datetime] = field(default_factory=list)


def backfill_slots(*, job: Job, start: datetime, end: datetime, now: datetime | None = None) -> list[datetime]:
    """The job's slots in [start, end], a past range of at most MAX_SLOTS slots; ValidationError keyed from/to."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationError({"from": "Give both times with a UTC offset or 'Z'."})
    if end < start:
        errors["to"] = "The range must end at or after its start."
    elif end > now:
        errors["to"] = "A backfill covers past slots only: end the range at or before now."
    if errors:
        raise ValidationError(errors)
    # The schedule alone: a backfill may reach slots the active window leaves out now.
    schedule = dataclasses.replace(job.schedule, start_at=None, end_at=None)
    slots: list[datetime] = []
    cursor = start - _ONE_US
    while (slot := schedules.next_fire(schedule, cursor)) is not None and slot <= end:
        slots.append(slot)
        if len(slots) > MAX_SLOTS:
            raise ValidationError({"to": f"The range holds more than {MAX_SLOTS} slots; backfill it in parts."})
        cursor = slot
    return slots


def job_backfill(
    *, job: Job, start: datetime, end: datetime, rate_per_second: float = 1.0, by: Any = None
) -> BackfillResult:
    """Create the runs of every free slot in [start, end], sent `rate_per_second` apart from now."""
    if not 0 < rate_per_second <= MAX_RATE:
        raise ValidationError({"ratePerSecond": f"Give a rate above 0 and at most {MAX_RATE:g} runs a second."})
    now = timezone.now()
    result = BackfillResult(slots=backfill_slots(job=job, start=start, end=end, now=now))
    with transaction.atomic():
        taken = set(
            Run.objects.filter(job=job, attempt=1, scheduled_for__in=result.slots).values_list(
                "scheduled_for", flat=True
            )
        )
        free = [slot for slot in result.slots if slot not in taken]
        runs = [
            Run(
                job=job,
                team_id=job.team_id,
                run_name=f"{job.natural_id}-{slot:%Y%m%d%H%M%S}",
                triggered_by=Run.Trigger.BACKFILL,
                triggered_by_user_id=getattr(by, "pk", None) if getattr(by, "is_authenticated", False) else None,
                attempt=1,
                backoff_limit=job.retry_limit,
                status=Run.Status.PENDING,
                scheduled_for=slot,
                not_before=now + timedelta(seconds=index / rate_per_second),
                data={"backfill": True},
            )
            for index, slot in enumerate(free)
        ]
        Run.objects.bulk_create(runs, ignore_conflicts=True)
        inserted = set(Run.objects.filter(pk__in=[run.pk for run in runs]).values_list("pk", flat=True))
        result.created = [run for run in runs if run.pk in inserted]
        created_slots = {run.scheduled_for for run in result.created}
        result.existing = [slot for slot in result.slots if slot not in created_slots]
        audit_record(
            team=job.team_id,
            action=AuditEntry.Action.RUN_TRIGGER,
            target=job,
            actor=by,
            details={
                "backfill": {"from": start.isoformat(), "to": end.isoformat(), "ratePerSecond": rate_per_second},
                "slots": len(result.slots),
                "created": len(result.created),
                "existing": len(result.existing),
            },
        )
    return result
