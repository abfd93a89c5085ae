from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from jobs.models import Job
from jobs.services import job_create, job_update, schedule_from_input, steps_from_input


@pytest.fixture(autouse=True)
def _short_intervals(settings):
    # These jobs run every 5 s, below the default minimum interval (HOURGLASS_MIN_INTERVAL_SECONDS).
    settings.HOURGLASS_MIN_INTERVAL_SECONDS = 1


@pytest.mark.django_db
@time_machine.travel(datetime(2026, 3, 28, 12, 0, tzinfo=UTC), tick=False)
def test_it_creates_a_one_request_job_from_just_a_url(team):
    job = job_create(
        team=team,
        natural_id="nightly",
        schedule=schedule_from_input(kind="cron", expression="30 2 * * *", timezone_name="Europe/Berlin"),
        steps=steps_from_input(url="https://example.com/nightly"),
    )
    assert job.name == "nightly"
    assert job.next_run_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:30 doesn't exist that night
    (step,) = job.steps.all()
    assert (step.name, step.kind, step.config["method"], step.config["url"]) == (
        "main",
        "http",
        "GET",
        "https://example.com/nightly",
    )


@pytest.mark.django_db
def test_it_rejects_a_duplicate_natural_id_and_changes_nothing(team):
    schedule = schedule_from_input(kind="interval", seconds=60)
    job_create(team=team, natural_id="dup", schedule=schedule, steps=steps_from_input(url="https://x.test/"))
    with pytest.raises(ValidationError) as info:
        job_create(team=team, natural_id="dup", schedule=schedule, steps=steps_from_input(url="https://x.test/"))
    assert "already exists" in info.value.message_dict["natural_id"][0]
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_it_rejects_a_natural_id_with_spaces(team):
    with pytest.raises(ValidationError) as info:
        job_create(
            team=team,
            natural_id="has space",
            schedule=schedule_from_input(kind="interval", seconds=5),
            steps=steps_from_input(url="https://x.test/"),
        )
    assert "natural_id" in info.value.message_dict
    assert not Job.objects.exists()


def test_it_reports_schedule_errors_by_field():
    with pytest.raises(ValidationError) as info:
        schedule_from_input(kind="cron", expression="* * *", timezone_name="UTC")
    assert list(info.value.message_dict) == ["schedule.expression"]


@pytest.mark.django_db
def test_pausing_clears_next_run_and_resuming_sets_it(team):
    job = job_create(
        team=team,
        natural_id="p",
        schedule=schedule_from_input(kind="interval", seconds=5),
        steps=steps_from_input(url="https://x.test/"),
    )
    assert job_update(job=job, enabled=False).next_run_at is None
    assert job_update(job=job, enabled=True).next_run_at is not None
