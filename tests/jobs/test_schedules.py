from datetime import UTC, datetime, timedelta

import pytest

from jobs import schedules
from jobs.schedules import Schedule, ScheduleError, next_fire, preview


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_it_fires_cron_in_utc():
    s = Schedule("cron", "*/15 * * * *")
    assert next_fire(s, utc(2026, 1, 1, 10, 7)) == utc(2026, 1, 1, 10, 15)
    assert next_fire(s, utc(2026, 1, 1, 10, 15)) == utc(2026, 1, 1, 10, 30)  # strictly after


def test_it_fires_cron_in_the_jobs_zone():
    s = Schedule("cron", "0 9 * * *", "America/New_York")
    # 09:00 EST is 14:00 UTC in January, 13:00 UTC (EDT) in July.
    assert next_fire(s, utc(2026, 1, 10, 0, 0)) == utc(2026, 1, 10, 14, 0)
    assert next_fire(s, utc(2026, 7, 10, 0, 0)) == utc(2026, 7, 10, 13, 0)


def test_it_fires_a_nonexistent_wall_time_once_at_the_next_valid_instant():
    # Europe/Berlin springs forward on 2026-03-29 at 02:00 CET -> 03:00 CEST (01:00 UTC).
    s = Schedule("cron", "30 2 * * *", "Europe/Berlin")
    fires = preview(s, utc(2026, 3, 28, 12, 0), 3)
    assert fires == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)]


def test_it_fires_every_gap_minute_only_once_per_instant():
    s = Schedule("cron", "*/30 * * * *", "Europe/Berlin")
    fires = preview(s, utc(2026, 3, 29, 0, 0), 4)
    # 01:00 CET, 01:30 CET, then 02:00 and 02:30 (nonexistent) and 03:00 collapse into 03:00 CEST.
    assert fires == [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 0)]
    assert len(set(fires)) == len(fires)


def test_it_fires_a_repeated_wall_time_once():
    # America/New_York falls back on 2026-11-01: 01:30 happens at 05:30 UTC (EDT) and 06:30 UTC (EST).
    s = Schedule("cron", "30 1 * * *", "America/New_York")
    fires = preview(s, utc(2026, 10, 31, 12, 0), 3)
    assert fires == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30), utc(2026, 11, 3, 6, 30)]


def test_it_does_not_fire_again_in_the_second_pass_of_a_repeated_hour():
    s = Schedule("cron", "30 1 * * *", "America/New_York")
    assert next_fire(s, utc(2026, 11, 1, 6, 0)) == utc(2026, 11, 2, 6, 30)


def test_it_keeps_an_interval_cadence_from_its_anchor():
    anchor = utc(2026, 1, 1, 0, 0, 0)
    s = Schedule("interval", interval_seconds=10, anchor=anchor)
    assert next_fire(s, utc(2026, 1, 1, 0, 0, 5)) == utc(2026, 1, 1, 0, 0, 10)
    assert next_fire(s, utc(2026, 1, 1, 0, 0, 10)) == utc(2026, 1, 1, 0, 0, 20)
    assert next_fire(s, anchor - timedelta(seconds=3)) == anchor


def test_it_fires_once_then_never():
    at = utc(2026, 5, 1, 12, 0)
    s = Schedule("once", run_at=at)
    assert next_fire(s, utc(2026, 5, 1, 11, 0)) == at
    assert next_fire(s, at) is None


@pytest.mark.parametrize(
    ("schedule", "field", "text"),
    [
        (Schedule("cron", "61 * * * *"), "expression", "Invalid cron expression '61 * * * *'"),
        (Schedule("cron", "* * * *"), "expression", "must have 5 fields"),
        (Schedule("cron", "* * * * * *"), "expression", "must have 5 fields"),
        (Schedule("cron", "* * * * *", "Mars/Olympus"), "timezone", "Unknown timezone 'Mars/Olympus'"),
        (Schedule("interval", interval_seconds=0), "seconds", "at least 10 seconds"),
        (Schedule("once"), "at", "needs a date and time"),
        (Schedule("weekly"), "kind", "Unknown schedule kind"),
    ],
)
def test_it_explains_a_bad_schedule(schedule, field, text):
    with pytest.raises(ScheduleError) as info:
        schedules.validate(schedule)
    assert info.value.field == field
    assert text in info.value.message


def test_it_describes_schedules_in_words():
    assert schedules.describe(Schedule("cron", "30 2 * * *", "Europe/Berlin")) == "At 02:30 (Europe/Berlin)"
    assert schedules.describe(Schedule("interval", interval_seconds=10)) == "Every 10 seconds"
    assert schedules.describe(Schedule("interval", interval_seconds=3600)) == "Every hour"
    assert schedules.describe(Schedule("once", run_at=utc(2026, 5, 1, 12))) == "Once at 2026-05-01 12:00:00 (UTC)"
    berlin = Schedule("once", timezone="Europe/Berlin", run_at=utc(2026, 5, 1, 12))
    assert schedules.describe(berlin) == "Once at 2026-05-01 14:00:00 (Europe/Berlin)"
