"""Promise 3: the scheduler restarted around a minute boundary fires every slot exactly once;
downtime beyond the misfire grace records a single `missed` run and no burst of catch-ups.

Beat is the process that calls dispatch() every second; a restart is a gap between two calls
and, possibly, a repeated call for the same instant. These tests call the real dispatcher with
fixed instants (T0 = 2026-01-05 12:00:00 UTC). Injected: ticks 0.5 s either side of a minute
boundary, a repeated tick (old and new beat both ticking once), a 20 s gap within the grace,
and a 10-minute gap beyond a 30 s grace.
"""

from collections import Counter
from datetime import timedelta

from history.models import Run
from jobs.engine import dispatch as dispatcher
from tests.factories import JobFactory
from tests.jobs.engine.dispatch_support import T0, Published, at


def minutely(team, **fields):
    return JobFactory(team=team, cron_expression="* * * * *", run_at=None, next_run_at=T0, **fields)


def slots_of(job):
    return Counter(Run.objects.filter(job=job).values_list("scheduled_for", flat=True))


def test_restart_across_the_minute_boundary_fires_each_slot_once(transactional_db, team):
    job = minutely(team)
    published = Published()
    # Old beat ticks up to 11:59:59.5 ... dies; the new one ticks from 12:00:00.5, and the
    # old one's last tick is replayed once more.
    for moment in (at(-1.5), at(-0.5), at(-0.5), at(0.5), at(0.5), at(1.5), at(59.5), at(60.5)):
        dispatcher.dispatch(moment, publisher=published)
    slots = slots_of(job)
    assert slots == Counter({T0: 1, T0 + timedelta(minutes=1): 1})
    assert len(published.run_ids) == 2  # one message per slot


def test_short_downtime_within_the_grace_fires_the_slot_late_once(transactional_db, team):
    job = minutely(team, misfire_grace_seconds=60)
    dispatcher.dispatch(at(-0.5), publisher=Published())
    dispatcher.dispatch(at(20), publisher=Published())  # beat was down 20 s
    [run] = Run.objects.filter(job=job)
    assert (run.scheduled_for, run.status) == (T0, Run.Status.PENDING)


def test_downtime_beyond_the_grace_records_one_missed_run_and_no_burst(transactional_db, team):
    job = minutely(team, misfire_grace_seconds=30)
    published = Published()
    dispatcher.dispatch(at(10 * 60 + 10), publisher=published)  # down ten minutes
    dispatcher.dispatch(at(10 * 60 + 11), publisher=published)
    runs = list(Run.objects.filter(job=job).order_by("scheduled_for"))
    missed = [run for run in runs if run.end_reason == Run.EndReason.MISSED]
    assert len(missed) == 1
    assert missed[0].data["missed_from"] == T0.isoformat()
    pending = [run for run in runs if run.status == Run.Status.PENDING]
    assert [run.scheduled_for for run in pending] == [T0 + timedelta(minutes=10)]  # the one catch-up
    assert len(runs) == 2
    assert len(published.run_ids) == 1
    job.refresh_from_db()
    assert job.next_run_at == T0 + timedelta(minutes=11)
