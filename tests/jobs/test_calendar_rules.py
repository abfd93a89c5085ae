"""Calendar rules: holidays on the job's clock (the `holidays` package), dates and ranges, weekly windows on their
own clock across DST changes, and the checks that refuse what cannot be evaluated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from jobs import calendars, schedules
from jobs.errors import Errors

NEW_YORK, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")


def rules(name="cal", holidays=(), dates=(), windows=()) -> calendars.Rules:
    return calendars.compile_rules(
        SimpleNamespace(name=name, holidays=list(holidays), dates=list(dates), windows=list(windows))
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_christmas_is_read_on_the_jobs_clock_not_utc():
    us = rules(holidays=[{"country": "US", "subdivision": ""}])
    eve_late = datetime(2026, 12, 24, 23, 30, tzinfo=NEW_YORK)  # already 25 December in UTC
    assert eve_late.astimezone(UTC).date().isoformat() == "2026-12-25"
    assert not us.contains(eve_late, NEW_YORK)
    christmas_late = datetime(2026, 12, 25, 23, 30, tzinfo=NEW_YORK)  # 26 December in UTC
    assert christmas_late.astimezone(UTC).date().isoformat() == "2026-12-26"
    assert us.contains(christmas_late, NEW_YORK)
    assert us.holiday_name(christmas_late, NEW_YORK) == "Christmas Day"
    # The same instant on a UTC job's clock is the 26th: no holiday.
    assert not us.contains(christmas_late, ZoneInfo("UTC"))


def test_a_subdivisions_holidays_are_its_own():
    bavaria = rules(holidays=[{"country": "DE", "subdivision": "BY"}])
    berlin = rules(holidays=[{"country": "DE", "subdivision": "BE"}])
    # Epiphany, 00:30 in Munich: still 5 January in UTC.
    epiphany = datetime(2027, 1, 6, 0, 30, tzinfo=BERLIN)
    assert epiphany.astimezone(UTC).day == 5
    assert bavaria.contains(epiphany, BERLIN)
    assert not berlin.contains(epiphany, BERLIN)
    # A holiday of the whole country is in both.
    unity_day = datetime(2026, 10, 3, 12, 0, tzinfo=BERLIN)
    assert bavaria.contains(unity_day, BERLIN)
    assert berlin.contains(unity_day, BERLIN)


def test_dates_and_ranges_are_inclusive_days_on_the_jobs_clock():
    closed = rules(dates=["2026-12-24", "2026-12-28/2026-12-31"])
    assert closed.contains(datetime(2026, 12, 24, 0, 0, tzinfo=NEW_YORK), NEW_YORK)
    assert closed.contains(datetime(2026, 12, 24, 23, 59, tzinfo=NEW_YORK), NEW_YORK)
    assert not closed.contains(datetime(2026, 12, 25, 0, 0, tzinfo=NEW_YORK), NEW_YORK)
    for day in (28, 29, 30, 31):
        assert closed.contains(datetime(2026, 12, day, 12, 0, tzinfo=NEW_YORK), NEW_YORK)
    assert not closed.contains(datetime(2027, 1, 1, 0, 0, tzinfo=NEW_YORK), NEW_YORK)


def _hourly_removed(window: dict, start: datetime, hours: int) -> list[str]:
    """The UTC hours of an hourly UTC job's slots that an `exclude` window removes."""
    attached = [calendars.Attached(rules(name="maintenance", windows=[window]), calendars.EXCLUDE)]
    schedule = schedules.Schedule(kind=schedules.CRON, expression="0 * * * *", timezone="UTC")
    slots = schedules.preview(schedule, start - timedelta(seconds=1), hours)
    return [f"{slot:%m-%d %H:%M}" for slot, reason in calendars.mark_slots(attached, slots, "UTC") if reason]


SUNDAY_MAINTENANCE = {"days": ["sun"], "start": "02:00", "end": "04:00", "timezone": "Europe/Berlin"}


def test_a_weekly_window_keeps_its_wall_times_across_the_spring_dst_change():
    # Sundays 02:00-04:00 in Berlin: 01:00-03:00 UTC in winter (CET), 00:00-02:00 UTC in summer (CEST).
    assert _hourly_removed(SUNDAY_MAINTENANCE, utc(2026, 3, 22), 6) == ["03-22 01:00", "03-22 02:00"]
    # 29 March 2026: 02:00 CET jumps to 03:00 CEST (01:00 UTC), so only 03:00-04:00 CEST is left: one UTC hour.
    assert _hourly_removed(SUNDAY_MAINTENANCE, utc(2026, 3, 29), 6) == ["03-29 01:00"]
    assert _hourly_removed(SUNDAY_MAINTENANCE, utc(2026, 4, 5), 6) == ["04-05 00:00", "04-05 01:00"]


def test_a_weekly_window_covers_a_repeated_hour_twice_in_the_autumn():
    # 25 October 2026: 03:00 CEST falls back to 02:00 CET, so 02:00-04:00 lasts three hours: 00:00-03:00 UTC.
    assert _hourly_removed(SUNDAY_MAINTENANCE, utc(2026, 10, 25), 6) == ["10-25 00:00", "10-25 01:00", "10-25 02:00"]


def test_a_window_past_midnight_runs_into_the_next_day_and_defaults_to_the_jobs_zone():
    nights = rules(windows=[{"days": ["fri"], "start": "22:00", "end": "06:00", "timezone": ""}])
    friday, saturday = datetime(2026, 12, 4, 23, 0, tzinfo=NEW_YORK), datetime(2026, 12, 5, 5, 59, tzinfo=NEW_YORK)
    assert nights.contains(friday, NEW_YORK)
    assert nights.contains(saturday, NEW_YORK)
    assert not nights.contains(datetime(2026, 12, 5, 6, 0, tzinfo=NEW_YORK), NEW_YORK)
    assert not nights.contains(datetime(2026, 12, 4, 21, 59, tzinfo=NEW_YORK), NEW_YORK)
    assert not nights.contains(datetime(2026, 12, 5, 23, 0, tzinfo=NEW_YORK), NEW_YORK)  # Saturday night
    # Read on the job's clock: 18:00 on Friday in New York is 23:00 UTC, inside a UTC job's Friday night only.
    evening = datetime(2026, 12, 4, 18, 0, tzinfo=NEW_YORK)
    assert not nights.contains(evening, NEW_YORK)
    assert nights.contains(evening, ZoneInfo("UTC"))


def test_exclude_removes_inside_and_only_removes_outside_naming_the_first_that_removes():
    weekend = rules(name="weekend", windows=[{"days": ["sat-sun"], "start": "00:00", "end": "24:00", "timezone": ""}])
    holidays = rules(name="holidays", dates=["2026-12-25"])
    attached = [calendars.Attached(holidays, calendars.EXCLUDE), calendars.Attached(weekend, calendars.ONLY)]
    zone = ZoneInfo("UTC")
    assert calendars.removed_by(attached, utc(2026, 12, 25, 9), zone) == "calendar:holidays"
    assert calendars.removed_by(attached, utc(2026, 12, 24, 9), zone) == "calendar:weekend"  # a Thursday
    assert calendars.removed_by(attached, utc(2026, 12, 26, 9), zone) == ""  # a Saturday, no holiday


def test_the_first_slot_that_fires_is_found_past_removed_ones():
    weekdays = rules(name="weekdays", windows=[{"days": ["mon-fri"], "start": "09:00", "end": "17:00", "timezone": ""}])
    schedule = schedules.Schedule(kind=schedules.CRON, expression="0 * * * *", timezone="UTC")
    attached = [calendars.Attached(weekdays, calendars.ONLY)]
    # Saturday 5 December 2026, noon: the next hour inside the window is Monday 09:00.
    assert calendars.first_firing(attached, schedule, utc(2026, 12, 5, 12)) == utc(2026, 12, 7, 9)
    assert calendars.first_firing(attached, schedule, utc(2026, 12, 5, 12), limit=10) is None


@pytest.mark.parametrize(
    ("rules_in", "path"),
    [
        ({"holidays": [{"country": "XX"}]}, "holidays[0].country"),
        ({"holidays": [{"country": "us"}]}, "holidays[0].country"),
        ({"holidays": [{"country": "DE", "subdivision": "ZZ"}]}, "holidays[0].subdivision"),
        ({"holidays": [{"country": "DE", "region": "BY"}]}, "holidays[0]"),
        ({"dates": ["2026-02-30"]}, "dates[0]"),
        ({"dates": ["2026-12-31/2026-12-01"]}, "dates[0]"),
        ({"dates": ["tomorrow"]}, "dates[0]"),
        ({"windows": [{"days": ["someday"], "start": "02:00", "end": "04:00"}]}, "windows[0].days"),
        ({"windows": [{"days": ["sun"], "start": "2:00", "end": "04:00"}]}, "windows[0].start"),
        ({"windows": [{"days": ["sun"], "start": "24:00", "end": "04:00"}]}, "windows[0].start"),
        ({"windows": [{"days": ["sun"], "start": "02:00", "end": "04:60"}]}, "windows[0].end"),
        ({"windows": [{"days": ["sun"], "start": "02:00", "end": "02:00"}]}, "windows[0].end"),
        (
            {"windows": [{"days": ["sun"], "start": "02:00", "end": "04:00", "timezone": "Mars/Base"}]},
            "windows[0].timezone",
        ),
    ],
)
def test_rules_that_cannot_be_evaluated_are_refused_on_their_path(rules_in, path):
    errors = Errors()
    calendars.clean_rules(rules_in, errors)
    assert path in errors.messages, errors.messages


def test_clean_rules_normalise_days_and_dates():
    errors = Errors()
    clean = calendars.clean_rules(
        {
            "holidays": [{"country": "DE", "subdivision": "BY"}],
            "dates": ["2026-12-24", "2026-12-27/2026-12-31", "2026-12-30/2026-12-30"],
            "windows": [{"days": ["Fri-Mon"], "start": "22:00", "end": "24:00"}],
        },
        errors,
    )
    assert not errors
    assert clean["dates"] == ["2026-12-24", "2026-12-27/2026-12-31", "2026-12-30"]
    assert clean["windows"] == [
        {"days": ["mon", "fri", "sat", "sun"], "start": "22:00", "end": "24:00", "timezone": ""}
    ]
    assert calendars.summary(**clean) == (
        "public holidays of DE-BY; 2026-12-24, 2026-12-27…2026-12-31, 2026-12-30; Mon,Fri,Sat,Sun 22:00–24:00"
    )


def test_the_window_text_the_form_takes_reads_as_the_api_shape():
    assert calendars.parse_window_text("Sun 2:00-04:00 Europe/Berlin") == {
        "days": ["Sun"],
        "start": "02:00",
        "end": "04:00",
        "timezone": "Europe/Berlin",
    }
    assert calendars.parse_window_text("mon-fri 09:00–17:00")["timezone"] == ""
    with pytest.raises(ValueError, match="Write a window"):
        calendars.parse_window_text("sometimes")


@pytest.mark.parametrize(
    ("kind", "item", "limit"),
    [
        ("holidays", {"country": "US"}, calendars.MAX_HOLIDAY_SETS),
        ("dates", "2026-12-24", calendars.MAX_DATES),
        ("windows", {"days": ["sun"], "start": "02:00", "end": "04:00"}, calendars.MAX_WINDOWS),
    ],
)
def test_each_rule_list_must_be_a_list_within_its_limit(kind, item, limit):
    errors = Errors()
    calendars.clean_rules({kind: item}, errors)
    assert errors.messages[kind][0].startswith("Give a list, e.g. ["), errors.messages
    errors = Errors()
    calendars.clean_rules({kind: [item] * (limit + 1)}, errors)
    assert [message.split(" ")[:3] for message in errors.messages[kind]] == [["At", "most", str(limit)]]
    errors = Errors()
    calendars.clean_rules({kind: [item] * limit}, errors)
    assert kind not in errors.messages
