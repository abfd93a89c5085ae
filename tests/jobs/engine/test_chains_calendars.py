"""Job chains with calendars: a job's calendars filter its clock's slots only. A run a chain starts runs on a day
an `exclude` calendar holds (like a run by hand). tests/jobs/api/test_job_chains.py previews a job with no clock and a
calendar."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from history.models import Run
from jobs.calendar_services import calendar_write
from jobs.write import job_write
from tests.jobs.engine.execute_support import execute, make_job, make_run

pytestmark = pytest.mark.django_db(transaction=True)


def _closed_around_today(team) -> None:
    today = timezone.now().date()
    span = f"{today - timedelta(days=1)}/{today + timedelta(days=1)}"
    calendar_write(team=team, fields={"name": "closed", "dates": [span]})


def test_a_chain_started_run_is_not_filtered_by_the_followers_calendars(team, target):
    _closed_around_today(team)
    upstream = make_job(team, target.url("/ok"), natural_id="import")
    report = job_write(
        team=team,
        fields={
            "natural_id": "report",
            "schedule_kind": "none",
            "after": [{"job": "import", "on": "success"}],
            "calendars": [{"calendar": "closed", "mode": "exclude"}],
        },
        steps=[{"name": "main", "config": {"url": target.url("/ok"), "timeout_ms": 5000}}],
    )
    assert [link.calendar.name for link in report.calendar_links.all()] == ["closed"]
    assert report.next_run_at is None  # no clock: nothing for the calendar to remove
    assert execute(make_run(upstream)).end_reason == "success"
    [started] = Run.objects.filter(job=report, triggered_by=Run.Trigger.CHAIN)
    assert execute(started).end_reason == "success"
    assert not Run.objects.filter(job=report, end_reason=Run.EndReason.SKIPPED).exists()
