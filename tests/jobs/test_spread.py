"""`H` in a cron field: a value hashed from the job's team and ID, stable across restarts and edits that keep
the ID, spread evenly over its range, read on the job's clock across DST."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from jobs import schedules
from jobs.models import Job
from jobs.write import job_write

MAIN = [{"name": "main", "config": {"url": "https://example.com/"}}]


def _hashed_job(team, natural_id: str, expression: str = "H * * * *", **fields) -> Job:
    return job_write(team=team, fields={"natural_id": natural_id, "cron_expression": expression, **fields}, steps=MAIN)


def test_it_spreads_a_thousand_hourly_jobs_over_every_minute():
    minutes = Counter(
        int(schedules.resolve_hashed("H * * * *", schedules.spread_seed(7, f"job-{n}")).split(" ")[0])
        for n in range(1000)
    )
    assert set(minutes) == set(range(60))
    assert max(minutes.values()) <= 3 * 1000 / 60


@pytest.mark.django_db
def test_it_keeps_the_minute_across_edits_that_keep_the_id(team):
    job = _hashed_job(team, "report")
    minute = job.next_run_at.minute
    job = job_write(team=team, job=job, fields={"name": "Report", "cron_expression": "H 3 * * *", "retry_limit": 2})
    assert job.next_run_at.minute == minute
    assert Job.objects.get(pk=job.pk).schedule_text.startswith(f"At 03:{minute:02d}")
    # a restart: the same schedule evaluated from the stored row, in a fresh cache
    schedules._next_cron_memo.cache_clear()
    assert schedules.next_fire(Job.objects.get(pk=job.pk).schedule, datetime.now(UTC)) == job.next_run_at


@pytest.mark.django_db
def test_a_new_id_moves_the_slot_with_it(team):
    job = _hashed_job(team, "a-job", "H H * * *")
    renamed = job_write(team=team, job=job, fields={"natural_id": "another-job"})
    expected = schedules.next_fire(renamed.schedule, datetime.now(UTC))
    assert renamed.next_run_at == expected


def test_a_range_and_a_step_stay_inside_the_range():
    for n in range(200):
        resolved = schedules.resolve_hashed("H(0-29)/10 * * * *", schedules.spread_seed(1, f"j{n}"))
        start, rest = resolved.split(" ")[0].split("-")
        assert 0 <= int(start) < 10
        assert rest == "29/10"
    days = {schedules.resolve_hashed("0 0 H * *", str(n)).split(" ")[2] for n in range(500)}
    assert {int(day) for day in days} <= set(range(1, 29))  # a day every month has


def test_it_says_in_words_which_minute_h_picked():
    seed = schedules.spread_seed(1, "report")
    schedule = schedules.Schedule(schedules.CRON, "H(0-29)/10 * * * *", "UTC", seed=seed)
    resolved = schedules.resolve_hashed(schedule.expression, seed)
    assert schedules.describe(schedule).endswith(f"(UTC; H spread: {resolved})")
    assert "Every 10 minutes" in schedules.describe(schedule)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("H(30-10) * * * *", "must lie within 0-59"),
        ("H(0-99) * * * *", "must lie within 0-59"),
        ("H/0 * * * *", "step of H/0"),
        ("0 H(0-30) * * *", "hour field must lie within 0-23"),
        ("h * * * *", "Invalid cron expression"),
    ],
)
@pytest.mark.django_db
def test_it_refuses_a_bad_h(team, expression, message):
    with pytest.raises(ValidationError) as caught:
        _hashed_job(team, "bad", expression)
    assert message in str(caught.value.message_dict["cron_expression"])


def test_h_with_a_timezone_fires_once_across_both_dst_changes():
    berlin = ZoneInfo("Europe/Berlin")
    seed = schedules.spread_seed(3, "nightly")
    schedule = schedules.Schedule(schedules.CRON, "H(0-29) 2 * * *", "Europe/Berlin", seed=seed)
    minute = int(schedules.resolve_hashed(schedule.expression, seed).split(" ")[0])
    spring = schedules.preview(schedule, datetime(2026, 3, 27, 12, tzinfo=UTC), 3)
    walls = [moment.astimezone(berlin) for moment in spring]
    assert [(w.day, w.hour, w.minute) for w in walls] == [(28, 2, minute), (29, 3, 0), (30, 2, minute)]
    autumn = schedules.preview(schedule, datetime(2026, 10, 24, 12, tzinfo=UTC), 2)
    assert [moment.astimezone(berlin).utcoffset().total_seconds() for moment in autumn] == [7200, 3600]
    assert autumn[0] == datetime(2026, 10, 25, 0, minute, tzinfo=UTC)  # 02:MM CEST, the first of the two
    assert (autumn[1] - autumn[0]).total_seconds() == 25 * 3600


@pytest.mark.django_db
def test_the_dashboards_preview_shows_the_minute_of_the_job_being_typed(client, editor, team, other_team):
    client.force_login(editor)
    url = reverse("jobs:schedule-preview")
    typed = {"schedule_kind": "cron", "cron_expression": "H * * * *", "timezone": "UTC", "natural_id": "sync"}
    resolved = schedules.resolve_hashed("H * * * *", schedules.spread_seed(team.pk, "sync"))
    body = client.get(url, {**typed, "team": team.pk}).content.decode()
    assert f"H spread: {resolved}" in body
    assert body.count("<time") >= 3
    # another team's seed is not the editor's to preview: it falls back to a neutral one
    other = client.get(url, {**typed, "team": other_team.pk}).content.decode()
    assert f"H spread: {schedules.resolve_hashed('H * * * *', '')}" in other
