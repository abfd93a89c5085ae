import time
from datetime import timedelta

import pytest

from history.models import Run
from jobs.engine.dispatch import MAX_SLOTS_PER_TICK, latest_slot_before
from jobs.models import Job
from jobs.schedules import Schedule
from tests.factories import JobFactory, RunFactory
from tests.jobs.engine.dispatch_support import T0, at, interval_job

pytestmark = pytest.mark.django_db


def runs_of(job: Job) -> list[tuple]:
    runs = Run.objects.filter(job=job).order_by("scheduled_for")
    return list(runs.values_list("scheduled_for", "status", "end_reason"))


# --- overlap ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["forbid", "replace"])
def test_overlap_guarded_jobs_are_claimed_at_most_a_second_ahead(team, tick, published, settings, policy):
    settings.HOURGLASS_DISPATCH_LOOKAHEAD_MS = 5000
    guarded = interval_job(team, 60, overlap_policy=policy, next_run_at=at(3))
    free = interval_job(team, 60, next_run_at=at(3))

    assert tick(T0) == 1  # the allow job's slot, 3 s ahead; the guarded one waits
    assert runs_of(free) == [(at(3), "pending", "")]
    assert runs_of(guarded) == []

    assert tick(at(2.5)) == 1  # now within a second: whether its last run is active is asked now
    assert runs_of(guarded) == [(at(3), "pending", "")]


def test_forbid_records_a_skipped_run_while_one_is_active(team, tick, published):
    job = interval_job(team, 60, overlap_policy="forbid")
    active = RunFactory(job=job, scheduled_for=at(-60), status="running", end_reason="")

    assert tick(at(-0.5)) == 1

    skipped = Run.objects.get(job=job, scheduled_for=T0)
    assert (skipped.status, skipped.end_reason, skipped.exit_code) == ("ended", "skipped", None)
    assert skipped.finished_at == at(-0.5)
    assert str(active.pk) in skipped.error
    assert published.batches == []
    job.refresh_from_db()
    assert job.next_run_at == at(60)


def test_forbid_runs_the_slot_when_nothing_is_active(team, tick, published):
    job = interval_job(team, 60, overlap_policy="forbid")
    RunFactory(job=job, scheduled_for=at(-60), status="ended", end_reason="failed")
    assert tick(at(-0.5)) == 1
    assert runs_of(job)[-1] == (T0, "pending", "")
    assert len(published.run_ids) == 1


def test_forbid_fires_one_slot_per_tick_so_it_never_skips_its_own_run(team, tick):
    job = interval_job(team, 1, overlap_policy="forbid")
    assert tick(T0) == 1  # T0 + 1 s is also in the look-ahead, but waits for the next tick
    job.refresh_from_db()
    assert job.next_run_at == at(1)
    assert runs_of(job) == [(T0, "pending", "")]


def test_replace_stops_the_active_runs_and_starts_the_new_one(team, tick, published):
    job = interval_job(team, 60, overlap_policy="replace")
    running = RunFactory(job=job, scheduled_for=at(-120), status="running", end_reason="")
    waiting = RunFactory(job=job, scheduled_for=at(-60), status="pending", end_reason="")

    assert tick(at(-0.5)) == 1

    running.refresh_from_db()
    waiting.refresh_from_db()
    assert running.status == "running"
    assert running.cancel_requested_at is not None  # the executor interrupts its request
    assert (waiting.status, waiting.end_reason) == ("ended", "stopped")
    new = Run.objects.get(job=job, scheduled_for=T0)
    assert new.status == "pending"
    assert published.run_ids == [str(new.pk)]


def test_allow_runs_alongside_an_active_run(team, tick):
    job = interval_job(team, 60, overlap_policy="allow")
    RunFactory(job=job, scheduled_for=at(-60), status="running", end_reason="")
    assert tick(at(-0.5)) == 1
    assert runs_of(job)[-1] == (T0, "pending", "")


# --- misfire grace ---------------------------------------------------------------------


def test_an_hour_of_missed_minutes_is_one_missed_run_and_one_catch_up(team, tick, published):
    job = interval_job(team, 60, misfire_grace_seconds=60)
    now = at(3600 + 10)  # cutoff = now - 60 s = T0 + 59 min 10 s

    assert tick(now) == 2

    assert runs_of(job) == [(at(3540), "ended", "missed"), (at(3600), "pending", "")]
    missed = Run.objects.get(job=job, end_reason="missed")
    assert missed.data == {"missed_from": T0.isoformat(), "missed_until": at(3540).isoformat()}
    assert missed.finished_at == now
    assert len(published.run_ids) == 1
    job.refresh_from_db()
    assert job.next_run_at == at(3660)


def test_a_missed_slot_with_no_slot_left_in_the_grace_gets_no_catch_up(team, tick, published):
    job = interval_job(team, 3600, misfire_grace_seconds=60)
    assert tick(at(5 * 3600 + 600)) == 1
    assert runs_of(job) == [(at(5 * 3600), "ended", "missed")]
    assert published.batches == []
    job.refresh_from_db()
    assert job.next_run_at == at(6 * 3600)


def test_a_week_missed_by_a_one_second_job_is_cheap_and_no_burst(team, tick):
    job = interval_job(team, 1, misfire_grace_seconds=60)
    now = at(7 * 86400 + 0.5)
    started = time.monotonic()

    assert tick(now) == 3

    assert time.monotonic() - started < 2
    assert runs_of(job) == [
        (at(7 * 86400 - 1), "ended", "missed"),  # every slot up to the catch-up
        (at(7 * 86400), "pending", ""),  # the catch-up: the latest slot within the grace
        (at(7 * 86400 + 1), "pending", ""),  # on time, within the look-ahead
    ]


def test_slots_within_the_grace_before_the_catch_up_are_in_the_missed_span(team, tick, settings):
    """A 1 s job with a 5 s grace whose dispatcher was away 20 s: slots 16-19 s are within the grace
    but the one catch-up (20 s) skips them; the missed run covers them, so none is left without a record."""
    settings.HOURGLASS_DISPATCH_LOOKAHEAD_MS = 0
    job = interval_job(team, 1, misfire_grace_seconds=5)

    assert tick(at(20.5)) == 2

    assert runs_of(job) == [(at(19), "ended", "missed"), (at(20), "pending", "")]
    missed = Run.objects.get(job=job, end_reason="missed")
    assert missed.data == {"missed_from": T0.isoformat(), "missed_until": at(19).isoformat()}
    job.refresh_from_db()
    assert job.next_run_at == at(21)


def test_a_missed_one_off_job_is_recorded_and_disabled(team, tick):
    job = JobFactory(team=team, schedule_kind="once", cron_expression="", run_at=T0, next_run_at=T0)
    assert tick(at(3600)) == 1
    assert runs_of(job) == [(T0, "ended", "missed")]
    job.refresh_from_db()
    assert (job.enabled, job.next_run_at) == (False, None)


def test_late_slots_within_the_grace_each_run(team, tick):
    job = interval_job(team, 1, misfire_grace_seconds=60)
    assert tick(at(5.2)) == 7  # T0 .. T0+6 s: a slow tick loses no slot
    assert [status for _, status, _ in runs_of(job)] == ["pending"] * 7


def test_one_tick_creates_at_most_max_slots_per_job(team, tick):
    job = interval_job(team, 1, misfire_grace_seconds=3600)
    assert tick(at(MAX_SLOTS_PER_TICK + 30)) == MAX_SLOTS_PER_TICK
    assert tick(at(MAX_SLOTS_PER_TICK + 30)) == 32  # the rest, up to the look-ahead
    assert Run.objects.filter(job=job).count() == MAX_SLOTS_PER_TICK + 32


def test_latest_slot_before_follows_a_cron_schedule():
    every_5_minutes = Schedule(kind="cron", expression="*/5 * * * *", timezone="Europe/Berlin")
    assert latest_slot_before(every_5_minutes, T0, at(3 * 86400 + 7 * 60)) == at(3 * 86400 + 5 * 60)
    assert latest_slot_before(every_5_minutes, T0, at(300)) == T0
    assert latest_slot_before(every_5_minutes, T0, at(300) + timedelta(microseconds=1)) == at(300)
