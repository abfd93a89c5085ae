"""Cron macros (@hourly … @yearly, @annually, @midnight): accepted wherever a cron expression is,
described in words, and fired on the job's wall clock across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from jobs import schedules
from jobs.models import Job
from jobs.schedules import Schedule, ScheduleError, next_fire, preview


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("macro", "fields"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_each_macro_fires_and_reads_like_its_five_fields(macro, fields):
    validated = schedules.validate(Schedule("cron", f" {macro.upper()} ", "Asia/Tokyo"))
    assert validated.expression == macro  # stored as written, in lower case
    expanded = Schedule("cron", fields, "Asia/Tokyo")
    after = utc(2026, 5, 17, 8, 20)
    assert preview(validated, after, 3) == preview(expanded, after, 3)
    assert schedules.describe(validated) == schedules.describe(expanded)
    assert "@" not in schedules.describe(validated)


def test_it_describes_macros_in_words():
    assert schedules.describe(schedules.validate(Schedule("cron", "@daily", "Europe/Berlin"))) == (
        "At 00:00 (Europe/Berlin)"
    )
    assert schedules.describe(schedules.validate(Schedule("cron", "@hourly"))) == "Every hour (UTC)"


def test_daily_follows_the_zones_midnight_across_spring_forward():
    # Europe/Berlin: midnight is 23:00 UTC in winter (CET) and 22:00 UTC in summer (CEST).
    s = schedules.validate(Schedule("cron", "@daily", "Europe/Berlin"))
    assert preview(s, utc(2026, 3, 27, 12, 0), 3) == [utc(2026, 3, 27, 23), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)]


def test_hourly_fires_once_an_hour_of_real_time_across_both_changes():
    s = schedules.validate(Schedule("cron", "@hourly", "Europe/Berlin"))
    # Spring forward (02:00 CET -> 03:00 CEST at 01:00 UTC): the missing 02:00 collapses into 03:00.
    assert preview(s, utc(2026, 3, 28, 23, 30), 3) == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)]
    # Fall back (03:00 CEST -> 02:00 CET at 01:00 UTC): the repeated 02:00 fires once, at its first occurrence.
    assert preview(s, utc(2026, 10, 24, 22, 30), 3) == [
        utc(2026, 10, 24, 23),
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 2),
    ]


def test_daily_in_a_zone_whose_midnight_is_skipped_fires_at_the_first_instant_after_it():
    # America/Santiago springs forward at 00:00 -> 01:00 (-04 -> -03) on 2026-09-06: that day has no midnight.
    s = schedules.validate(Schedule("cron", "@midnight", "America/Santiago"))
    assert next_fire(s, utc(2026, 9, 5, 12)) == utc(2026, 9, 6, 4)  # 01:00 -03, the first valid instant
    assert next_fire(s, utc(2026, 9, 6, 4)) == utc(2026, 9, 7, 3)  # then midnight at -03


@pytest.mark.parametrize("expression", ["@reboot", "@every", "@", "@daily 5"])
def test_it_refuses_what_is_not_a_macro(expression):
    with pytest.raises(ScheduleError, match="macro") as caught:
        schedules.validate(Schedule("cron", expression))
    assert caught.value.field == "expression"


@pytest.mark.django_db
def test_the_api_saves_a_macro_and_reports_its_fire_times(team, editor):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(editor)
    body = {
        "naturalId": "weekly-digest",
        "schedule": {"kind": "cron", "expression": "@weekly", "timezone": "Europe/Berlin"},
        "request": {"url": "https://example.com/digest"},
    }
    response = api.post("/api/jobs", body, format="json")
    assert response.status_code == 201, response.content
    job = Job.objects.get(natural_id="weekly-digest")
    assert job.cron_expression == "@weekly"
    assert job.schedule_text == "At 00:00, only on Sunday (Europe/Berlin)"
    wall = job.next_run_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert (wall.weekday(), wall.hour, wall.minute) == (6, 0, 0)  # Sunday 00:00 on Berlin's clock


@pytest.mark.django_db
def test_the_dashboards_preview_reads_a_macro(client, editor):
    client.force_login(editor)
    response = client.get(reverse("jobs:schedule-preview"), {"schedule_kind": "cron", "cron_expression": "@monthly"})
    body = response.content.decode()
    assert "At 00:00, on day 1 of the month (UTC)" in body
    assert body.count("<time") >= 3
