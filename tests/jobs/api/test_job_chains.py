"""Job chains through the API: `after` names jobs of the same team by ID, is refused on the entry at fault (an
unknown job, the job itself, another team's job), a loop is refused at save time with the loop named, and the job
reads back its chain in words and in its fire-times preview."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.calendar_services import calendar_write
from jobs.models import AuditEntry, Job, JobTrigger
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def _job(natural_id: str, **fields: object) -> dict:
    return {
        "naturalId": natural_id,
        "schedule": {"kind": "none"},
        "request": {"url": "https://x.test/"},
        **fields,
    }


def _errors(response) -> dict[str, str]:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    return {error["location"]: error["message"] for error in response.json()["errors"]}


def test_it_creates_a_triggered_only_job_that_follows_another(as_user, editor, team):
    JobFactory(team=team, natural_id="import")
    response = as_user(editor).post("/api/jobs", _job("report", after=[{"job": "import"}]), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["after"] == [{"job": "import", "on": "success"}]
    assert (body["afterAll"], body["afterWithinSeconds"], body["nextRunAt"]) == (False, None, None)
    assert body["schedule"]["kind"] == "none"
    assert body["schedule"]["description"] == "After import succeeds"
    job = Job.objects.get(natural_id="report")
    assert [(t.upstream.natural_id, t.on) for t in job.triggers.all()] == [("import", "success")]


def test_a_clock_and_a_chain_together_are_described_and_previewed(as_user, editor, team):
    JobFactory(team=team, natural_id="import")
    JobFactory(team=team, natural_id="export")
    payload = {
        **_job("report"),
        "schedule": {"kind": "cron", "expression": "0 6 * * *", "timezone": "Europe/Berlin"},
        "after": [{"job": "import", "on": "failure"}, {"job": "export", "on": "any"}],
    }
    client = as_user(editor)
    body = client.post("/api/jobs", payload, format="json").json()
    assert body["schedule"]["description"] == "At 06:00 (Europe/Berlin), and after import fails or export ends"
    times = client.get("/api/jobs/report/fire-times?count=2").json()
    assert len(times["fireTimes"]) == 2
    assert times["after"] == [{"job": "import", "on": "failure"}, {"job": "export", "on": "any"}]
    assert "after import fails or export ends" in times["description"]


def test_fan_in_needs_its_window_and_says_it(as_user, editor, team):
    JobFactory(team=team, natural_id="a")
    JobFactory(team=team, natural_id="b")
    client = as_user(editor)
    errors = _errors(
        client.post("/api/jobs", _job("c", after=[{"job": "a"}, {"job": "b"}], afterAll=True), format="json")
    )
    assert "body.afterWithinSeconds" in errors
    payload = _job("c", after=[{"job": "a"}, {"job": "b"}], afterAll=True, afterWithinSeconds=1800)
    body = client.post("/api/jobs", payload, format="json").json()
    assert body["schedule"]["description"] == "After a succeeds and b succeeds, within 30 minutes of each other"
    errors = _errors(client.patch("/api/jobs/c", {"after": []}, format="json"))
    assert errors == {"body.afterAll": "afterAll needs the jobs to wait for in after."}


def test_an_unknown_job_is_refused_on_its_entry(as_user, editor, team):
    JobFactory(team=team, natural_id="import")
    payload = _job("report", after=[{"job": "import"}, {"job": "imprt", "on": "success"}])
    errors = _errors(as_user(editor).post("/api/jobs", payload, format="json"))
    assert errors == {"body.after[1].job": "No job 'imprt' in team 'acme'."}
    assert not Job.objects.filter(natural_id="report").exists()


def test_another_teams_job_is_unknown(as_user, editor, team, other_team):
    JobFactory(team=other_team, natural_id="theirs")
    errors = _errors(as_user(editor).post("/api/jobs", _job("mine", after=[{"job": "theirs"}]), format="json"))
    assert list(errors) == ["body.after[0].job"]
    assert not JobTrigger.objects.exists()


def test_a_job_cannot_follow_itself(as_user, editor, team):
    client = as_user(editor)
    errors = _errors(client.post("/api/jobs", _job("loop", after=[{"job": "loop"}]), format="json"))
    assert errors == {"body.after[0].job": "A job cannot follow itself."}
    JobFactory(team=team, natural_id="solo")
    errors = _errors(client.patch("/api/jobs/solo", {"after": [{"job": "solo"}]}, format="json"))
    assert errors == {"body.after[0].job": "A job cannot follow itself."}


def test_a_loop_is_refused_at_save_time_and_named(as_user, editor, team):
    client = as_user(editor)
    JobFactory(team=team, natural_id="a")
    assert client.post("/api/jobs", _job("b", after=[{"job": "a"}]), format="json").status_code == 201
    errors = _errors(client.patch("/api/jobs/a", {"after": [{"job": "b", "on": "any"}]}, format="json"))
    assert errors == {"body.after": "This would make a loop of jobs starting each other: a → b → a."}
    # Three jobs round: c follows b, and a following c would close it.
    assert client.post("/api/jobs", _job("c", after=[{"job": "b"}]), format="json").status_code == 201
    errors = _errors(client.patch("/api/jobs/a", {"after": [{"job": "c"}]}, format="json"))
    assert errors == {"body.after": "This would make a loop of jobs starting each other: a → b → c → a."}
    assert not JobTrigger.objects.filter(job__natural_id="a").exists()


def test_bad_entries_are_refused_by_field(as_user, editor, team):
    JobFactory(team=team, natural_id="import")
    payload = _job("report", after=[{"job": "import", "on": "sometimes"}, {"job": "import", "when": "x"}])
    errors = _errors(as_user(editor).post("/api/jobs", payload, format="json"))
    assert "body.after[0].on" in errors
    assert "body.after[1].when" in errors


def test_a_renamed_upstream_keeps_its_followers(as_user, editor, team):
    JobFactory(team=team, natural_id="import")
    client = as_user(editor)
    client.post("/api/jobs", _job("report", after=[{"job": "import"}]), format="json")
    assert client.patch("/api/jobs/import", {"naturalId": "ingest"}, format="json").status_code == 200
    assert client.get("/api/jobs/report").json()["after"] == [{"job": "ingest", "on": "success"}]
    # And a loop through the renamed job is still seen.
    errors = _errors(client.patch("/api/jobs/ingest", {"after": [{"job": "report"}]}, format="json"))
    assert errors == {"body.after": "This would make a loop of jobs starting each other: ingest → report → ingest."}


def test_the_job_list_reads_every_jobs_chain_in_one_query(as_user, editor, team):
    for index in range(5):
        JobFactory(team=team, natural_id=f"up-{index}")
    client = as_user(editor)
    for index in range(5):
        client.post("/api/jobs", _job(f"down-{index}", after=[{"job": f"up-{index}"}]), format="json")
    with CaptureQueriesContext(connection) as queries:
        listed = client.get("/api/jobs?limit=100").json()["_embedded"]["inf:job"]
    assert {job["naturalId"]: job["after"] for job in listed}["down-3"] == [{"job": "up-3", "on": "success"}]
    assert sum("jobs_jobtrigger" in query["sql"] for query in queries.captured_queries) == 1


def test_a_change_of_after_is_audited_old_and_new(as_user, editor, team):
    JobFactory(team=team, natural_id="import")
    client = as_user(editor)
    client.post("/api/jobs", _job("report"), format="json")
    assert (
        client.patch("/api/jobs/report", {"after": [{"job": "import", "on": "any"}]}, format="json").status_code == 200
    )
    entry = AuditEntry.objects.filter(action="job.update", target_label__contains="report").latest("created_at")
    assert entry.details["changes"]["after"] == {"old": [], "new": [{"job": "import", "on": "any"}]}


def test_a_job_with_no_clock_and_a_calendar_previews_no_slots(as_user, editor, team):
    # Its calendars filter the clock's slots only; with no clock there are none to remove.
    today = timezone.now().date()
    calendar_write(team=team, fields={"name": "closed", "dates": [f"{today}/{today + timedelta(days=1)}"]})
    JobFactory(team=team, natural_id="import")
    created = as_user(editor).post(
        "/api/jobs",
        {
            "naturalId": "report",
            "schedule": {"kind": "none"},
            "after": [{"job": "import"}],
            "calendars": [{"calendar": "closed", "mode": "only"}],
            "request": {"url": "https://x.test/"},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = as_user(editor).get("/api/jobs/report/fire-times?count=3").json()
    assert (body["slots"], body["fireTimes"], body["nextFireAt"]) == ([], [], None)
    assert body["after"] == [{"job": "import", "on": "success"}]
    assert body["description"] == "After import succeeds"  # a calendar that removes nothing goes unsaid
