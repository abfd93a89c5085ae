"""Jobs in a manifest name the team's calendars: export writes them, plan shows a change to them, apply sets them,
and a calendar the team does not have is a problem on the job's `calendars`, with its line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.calendar_services import calendar_write
from jobs.manifest.apply import manifest_export
from jobs.manifest.document import ManifestError, dump
from jobs.manifest.report import plan_text
from jobs.models import Job
from tests.jobs.manifest.support import apply, plan

pytestmark = pytest.mark.django_db

TEXT = """\
version: 1
jobs:
  close-books:
    schedule: {{kind: cron, expression: "0 18 * * *", timezone: America/New_York}}
    request: {{url: https://books.example.com/close}}
    calendars:
      - {{calendar: {calendar}, mode: {mode}}}
"""


@pytest.fixture
def calendars(team):
    calendar_write(team=team, fields={"name": "us-holidays", "holidays": [{"country": "US"}]})
    calendar_write(team=team, fields={"name": "month-end", "dates": ["2026-12-31"]})


def test_apply_attaches_by_name_and_export_writes_the_names_back(team, calendars):
    assert apply(team, TEXT.format(calendar="us-holidays", mode="exclude")).changed
    job = Job.objects.get(natural_id="close-books")
    assert job.calendars == [{"calendar": "us-holidays", "mode": "exclude"}]
    exported = manifest_export(team=team)
    assert exported["jobs"]["close-books"]["calendars"] == [{"calendar": "us-holidays", "mode": "exclude"}]
    assert not plan(team, dump(exported)).changed


def test_a_changed_mode_or_calendar_is_a_change_to_calendars(team, calendars):
    apply(team, TEXT.format(calendar="us-holidays", mode="exclude"))
    result = plan(team, TEXT.format(calendar="month-end", mode="only"))
    (job,) = result.jobs
    assert [change.as_dict() for change in job.changes] == [
        {
            "path": "calendars",
            "old": [{"calendar": "us-holidays", "mode": "exclude"}],
            "new": [{"calendar": "month-end", "mode": "only"}],
        }
    ]
    apply(team, TEXT.format(calendar="month-end", mode="only"))
    assert Job.objects.get(natural_id="close-books").calendars == [{"calendar": "month-end", "mode": "only"}]


def test_an_unknown_calendar_is_a_problem_on_the_jobs_calendars_with_its_line(team, calendars):
    with pytest.raises(ManifestError) as caught:
        plan(team, TEXT.format(calendar="ghost", mode="exclude"))
    (problem,) = caught.value.problems
    assert (problem.location, problem.line) == ("jobs.close-books.calendars", 6)
    assert "No calendar 'ghost'" in problem.message
    assert not Job.objects.exists()


def test_the_plans_fire_times_mark_the_slots_a_calendar_removes(team, calendars):
    result = plan(team, TEXT.format(calendar="month-end", mode="exclude"), now=datetime(2026, 12, 29, 12, tzinfo=UTC))
    (job,) = result.jobs
    # 18:00 in New York on 29, 30, 31 December, 1 and 2 January: the month-end date is skipped.
    assert [fire["removedBy"] for fire in job.fire_times] == [None, None, "calendar:month-end", None, None]
    assert "skipped: calendar:month-end" in plan_text(result)
