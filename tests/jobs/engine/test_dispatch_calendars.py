"""Calendars at dispatch: a slot a calendar removes is an ended `skipped` run saying `calendar:<name>`, never a gap;
exclude removes what is inside, only what is outside; holidays are read on the job's clock."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from history.models import Run
from jobs.calendar_services import attach_calendars, calendar_write
from jobs.models import Job
from tests.factories import JobFactory
from tests.jobs.engine.dispatch_support import T0, at, interval_job

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


def calendar(team, name: str, **rules):
    return calendar_write(team=team, fields={"name": name, **rules})


def runs_of(job: Job) -> list[tuple]:
    runs = Run.objects.filter(job=job).order_by("scheduled_for")
    return list(runs.values_list("scheduled_for", "status", "end_reason", "error"))


def test_an_excluded_slot_is_recorded_skipped_with_the_calendars_name(team, tick, published):
    calendar(team, "closed", dates=["2026-01-05"])  # T0's day
    job = interval_job(team, 60)
    attach_calendars(job, [{"calendar": "closed", "mode": "exclude"}])

    assert tick(at(-0.5)) == 1

    skipped = Run.objects.get(job=job, scheduled_for=T0)
    assert (skipped.status, skipped.end_reason, skipped.triggered_by) == ("ended", "skipped", "cron")
    assert skipped.data == {"skip_reason": "calendar:closed"}
    assert "calendar:closed" in skipped.error
    assert skipped.finished_at == at(-0.5)
    assert published.batches == []  # nothing to send
    job.refresh_from_db()
    assert (job.next_run_at, job.fired_runs, job.enabled) == (at(60), 0, True)


def test_only_skips_the_slots_outside_the_calendar_and_runs_those_inside(team, tick, published):
    # T0 is Monday 12:00 UTC; the window is Monday 12:01-12:02.
    calendar(team, "lunch", windows=[{"days": ["mon"], "start": "12:01", "end": "12:02", "timezone": "UTC"}])
    job = interval_job(team, 60)
    attach_calendars(job, [{"calendar": "lunch", "mode": "only"}])

    tick(at(-0.5))
    tick(at(59.5))
    tick(at(119.5))

    assert [(slot, status, reason) for slot, status, reason, _ in runs_of(job)] == [
        (T0, "ended", "skipped"),
        (at(60), "pending", ""),
        (at(120), "ended", "skipped"),
    ]
    assert Run.objects.get(job=job, scheduled_for=at(120)).data["skip_reason"] == "calendar:lunch"
    assert len(published.run_ids) == 1


def test_a_holiday_is_the_jobs_local_day_christmas_in_new_york(team, tick):
    calendar(team, "us-holidays", holidays=[{"country": "US"}])
    eve = datetime(2026, 12, 24, 23, 30, tzinfo=NEW_YORK)  # 04:30 UTC on 25 December: not Christmas in New York
    job = JobFactory(
        team=team, cron_expression="30 23 * * *", timezone="America/New_York", next_run_at=eve.astimezone(UTC)
    )
    attach_calendars(job, [{"calendar": "us-holidays", "mode": "exclude"}])

    tick(eve.astimezone(UTC))
    job.refresh_from_db()
    christmas = datetime(2026, 12, 25, 23, 30, tzinfo=NEW_YORK)  # 26 December in UTC, Christmas in New York
    assert job.next_run_at == christmas.astimezone(UTC)
    tick(christmas.astimezone(UTC))

    rows = runs_of(job)
    assert [(slot, status, reason) for slot, status, reason, _ in rows] == [
        (eve.astimezone(UTC), "pending", ""),
        (christmas.astimezone(UTC), "ended", "skipped"),
    ]
    assert "calendar:us-holidays" in rows[1][3]


def test_an_hourly_job_in_utc_skips_a_berlin_window_by_berlin_wall_time_across_dst(team, tick):
    calendar(
        team, "maintenance", windows=[{"days": ["sun"], "start": "02:00", "end": "04:00", "timezone": "Europe/Berlin"}]
    )
    # 29 March 2026, the spring change: 00:00 UTC is 01:00 CET, 01:00 UTC is 03:00 CEST, 02:00 UTC is 04:00 CEST.
    first = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    job = JobFactory(team=team, cron_expression="0 * * * *", timezone="UTC", next_run_at=first)
    attach_calendars(job, [{"calendar": "maintenance", "mode": "exclude"}])
    for hour in range(3):
        tick(datetime(2026, 3, 29, hour, 0, tzinfo=UTC))
    assert [(slot.hour, reason) for slot, _, reason, _ in runs_of(job)] == [(0, ""), (1, "skipped"), (2, "")]


def test_skipped_slots_do_not_use_up_max_runs(team, tick):
    # The slot at T0 - 30 s (11:59:30) is inside the window, T0 is not: the skip leaves the one run for T0.
    calendar(team, "freeze", windows=[{"days": ["mon"], "start": "11:59", "end": "12:00", "timezone": "UTC"}])
    job = interval_job(team, 10, next_run_at=at(-30), max_runs=1)
    attach_calendars(job, [{"calendar": "freeze", "mode": "exclude"}])

    tick(at(-0.5))

    assert [(slot, status) for slot, status, _, _ in runs_of(job)] == [(at(-30), "ended"), (T0, "pending")]
    job.refresh_from_db()
    assert (job.fired_runs, job.enabled, job.next_run_at) == (1, False, None)
    assert "maxRuns" in job.paused_reason


def test_a_calendar_change_applies_from_the_next_tick(team, tick):
    closed = calendar(team, "closed", dates=["2026-01-04"])
    job = interval_job(team, 60)
    attach_calendars(job, [{"calendar": "closed", "mode": "exclude"}])
    before = Job.objects.get(pk=job.pk).updated_at
    calendar_write(team=team, calendar=closed, fields={"dates": ["2026-01-05"]})
    # The job's definition changed with its calendar: what is keyed by its updated_at sees it.
    assert Job.objects.get(pk=job.pk).updated_at > before

    tick(at(-0.5))

    assert runs_of(job)[0][2] == "skipped"
