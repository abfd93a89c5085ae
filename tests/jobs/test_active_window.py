"""startAt, endAt and maxRuns: no slot outside the window; a job whose window is over turns itself off, with an
audit entry, and the dashboard says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from jobs.engine.dispatch import dispatch
from jobs.models import AuditEntry, Job
from jobs.services import apikey_create
from jobs.write import job_write
from tests.jobs.engine.dispatch_support import Published, at, interval_job

pytestmark = pytest.mark.django_db
MAIN = [{"name": "main", "config": {"url": "https://example.com/"}}]


def _tick(now: datetime) -> int:
    return dispatch(now, publisher=Published())


@pytest.fixture
def api(team, owner) -> APIClient:
    _, raw = apikey_create(team=team, name="w", scopes=["job:read", "job:edit"], created_by=owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_no_slot_comes_before_the_window_starts(api):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=10)
    body = {
        "naturalId": "later",
        "schedule": {"kind": "cron", "expression": "0 * * * *", "timezone": "UTC"},
        "request": {"url": "https://example.com/"},
        "startAt": start.isoformat(),
        "endAt": (start + timedelta(days=1)).isoformat(),
        "maxRuns": 5,
    }
    response = api.post("/api/jobs", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["nextRunAt"] == start.isoformat().replace("+00:00", "Z")
    assert (data["maxRuns"], data["firedRuns"], data["pausedReason"]) == (5, 0, "")
    assert "at most 5 runs (0 so far)" in data["schedule"]["description"]
    times = api.get(f"/api/jobs/{data['id']}/fire-times?count=30").json()["fireTimes"]
    assert len(times) == 25  # the hours of the one-day window, ends included
    assert times[-1] == (start + timedelta(days=1)).isoformat().replace("+00:00", "Z")


def test_a_window_that_ends_before_it_starts_is_refused(api):
    body = {
        "naturalId": "backwards",
        "schedule": {"kind": "cron", "expression": "0 * * * *", "timezone": "UTC"},
        "request": {"url": "https://example.com/"},
        "startAt": "2030-01-02T00:00:00Z",
        "endAt": "2030-01-01T00:00:00Z",
    }
    response = api.post("/api/jobs", body, format="json")
    assert response.status_code == 400
    assert [error["location"] for error in response.json()["errors"]] == ["body.endAt"]


def test_it_turns_itself_off_after_max_runs_with_an_audit_entry(team):
    job = interval_job(team, 60, max_runs=2)
    assert _tick(at(-0.5)) == 1
    assert _tick(at(59.5)) == 1
    job.refresh_from_db()
    assert (job.enabled, job.next_run_at, job.fired_runs) == (False, None, 2)
    assert job.paused_reason == "Ended after 2 of at most 2 runs (maxRuns)."
    entry = AuditEntry.objects.get(action=AuditEntry.Action.JOB_PAUSE, target_id=str(job.pk))
    assert (entry.actor_label, entry.details["reason"]) == ("system", job.paused_reason)
    assert _tick(at(119.5)) == 0


def test_it_turns_itself_off_when_no_slot_is_left_before_end_at(team):
    job = interval_job(team, 60, end_at=at(90))
    assert _tick(at(-0.5)) == 1
    job.refresh_from_db()
    assert (job.enabled, job.next_run_at) == (True, at(60))
    assert _tick(at(59.5)) == 1
    job.refresh_from_db()
    assert not job.enabled
    assert job.paused_reason == "Ended: its active window closed at 2026-01-05 12:01 UTC (endAt)."


def test_a_job_saved_past_its_window_is_off_and_says_why_and_enabling_it_again_clears_it(team, client, editor):
    job = job_write(
        team=team,
        fields={"natural_id": "done", "cron_expression": "* * * * *", "end_at": datetime(2020, 1, 1, tzinfo=UTC)},
        steps=MAIN,
    )
    assert (job.enabled, job.next_run_at) == (False, None)
    client.force_login(editor)
    page = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert "Ended: its active window closed at 2020-01-01 00:00 UTC (endAt)." in page
    job = job_write(team=team, job=job, fields={"enabled": True, "end_at": None})
    assert (job.enabled, job.paused_reason) == (True, "")
    assert job.next_run_at is not None


def test_the_form_reads_the_window_on_the_jobs_clock_across_dst(team, client, editor):
    client.force_login(editor)
    form = {
        "natural_id": "berlin",
        "enabled": "on",
        "schedule_kind": "cron",
        "cron_expression": "0 3 * * *",
        "timezone": "Europe/Berlin",
        "start_at": "2030-04-01T03:00",  # CEST, the day after clocks went forward
        "end_at": "2030-10-27T03:00",  # CET, the day clocks go back
        "max_runs": "",
        "retry_limit": 0,
        "backoff_strategy": "exponential",
        "backoff_base_seconds": 10,
        "overlap_policy": "allow",
        "misfire_grace_seconds": 60,
        "success_statuses": "200-299",
        "keep_runs": 100,
        "variables": "{}",
        "steps-TOTAL_FORMS": 1,
        "steps-INITIAL_FORMS": 0,
        "steps-0-name": "main",
        "steps-0-kind": "http",
        "steps-0-method": "GET",
        "steps-0-url": "https://example.com/",
        "steps-0-timeout_ms": 10000,
        "steps-0-run_if": "on_success",
        "steps-0-after_failures": 1,
    }
    response = client.post(reverse("jobs:create"), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get(natural_id="berlin")
    assert job.start_at == datetime(2030, 4, 1, 1, tzinfo=UTC)
    assert job.end_at == datetime(2030, 10, 27, 2, tzinfo=UTC)
    assert job.next_run_at == datetime(2030, 4, 1, 1, tzinfo=UTC)
