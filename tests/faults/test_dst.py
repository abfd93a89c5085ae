"""Promise 9: DST edges in Europe/Berlin and America/New_York fire each slot once.

The real dispatcher (jobs.engine.dispatch.dispatch) is called with fixed instants: at every slot the
job's next_run_at names, and again half a minute later (a second beat tick on the same slot).
Injected: the 2026 spring-forward and fall-back transitions of both zones.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from history.models import Run
from jobs.engine import dispatch as dispatcher
from jobs.models import Job
from tests.factories import JobFactory
from tests.jobs.engine.dispatch_support import Published

# (zone, a UTC instant a day before the transition)
EDGES = [
    ("Europe/Berlin", datetime(2026, 3, 28, 0, 0, tzinfo=UTC)),  # 29 Mar 02:00 -> 03:00
    ("Europe/Berlin", datetime(2026, 10, 24, 0, 0, tzinfo=UTC)),  # 25 Oct 03:00 -> 02:00
    ("America/New_York", datetime(2026, 3, 7, 12, 0, tzinfo=UTC)),  # 8 Mar 02:00 -> 03:00
    ("America/New_York", datetime(2026, 10, 31, 12, 0, tzinfo=UTC)),  # 1 Nov 02:00 -> 01:00
]


def drive(job: Job, start: datetime, until: datetime) -> list[datetime]:
    """Dispatch at each slot of `job` (and 30 s later) from `start` to `until`; the runs' slots."""
    Job.objects.filter(pk=job.pk).update(next_run_at=dispatcher.next_fire(job.schedule, start))
    published = Published()
    for _ in range(200):  # bounded: at most 200 slots per edge
        job.refresh_from_db()
        if job.next_run_at is None or job.next_run_at > until:
            break
        slot = job.next_run_at
        dispatcher.dispatch(slot, publisher=published)
        dispatcher.dispatch(slot + timedelta(seconds=30), publisher=published)
    return list(Run.objects.filter(job=job).order_by("scheduled_for").values_list("scheduled_for", flat=True))


@pytest.mark.parametrize(("zone", "start"), EDGES)
def test_hourly_job_fires_every_utc_hour_once_across_the_edge(transactional_db, team, zone, start):
    job = JobFactory(team=team, cron_expression="0 * * * *", timezone=zone, misfire_grace_seconds=3600)
    slots = drive(job, start, start + timedelta(hours=48))
    assert max(Counter(slots).values()) == 1
    # Each local wall-clock hh:00 fires once: the repeated hour of fall-back day fires on its
    # first occurrence only (cron semantics), and every hour that exists fires.
    local = [slot.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for slot in slots]
    hours = [start + timedelta(hours=h) for h in range(1, 49)]
    expected = sorted({hour.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for hour in hours})
    assert local == expected
    assert not Run.objects.filter(job=job).exclude(status=Run.Status.PENDING).exists()  # nothing missed


@pytest.mark.parametrize(("zone", "start"), EDGES)
def test_daily_job_in_the_changing_hour_fires_once_a_day(transactional_db, team, zone, start):
    # 02:30 local does not exist on spring-forward day and exists twice on fall-back day.
    job = JobFactory(team=team, cron_expression="30 2 * * *", timezone=zone, misfire_grace_seconds=3600)
    slots = drive(job, start, start + timedelta(days=3))
    assert len(slots) == len(set(slots))
    days = Counter(slot.date() for slot in slots)
    assert max(days.values()) == 1, slots  # never twice a day (fall back)
    assert len(slots) >= 2  # the non-transition days fire
