"""POST /api/jobs/{id}/backfill: a run per past slot (trigger backfill, scheduled_for = the slot), paced, a slot
that has a run reported and not doubled, at most 1,000 slots, across a DST change on the job's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from history.models import Run
from jobs.engine.dispatch import publish_due_retries
from jobs.services import apikey_create
from jobs.write import job_write

pytestmark = pytest.mark.django_db
MAIN = [{"name": "main", "config": {"url": "https://example.com/"}}]


def _client(team, owner, scopes) -> APIClient:
    _, raw = apikey_create(team=team, name="b", scopes=scopes, created_by=owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def berlin_job(team):
    return job_write(
        team=team,
        fields={"natural_id": "nightly", "cron_expression": "30 2 * * *", "timezone": "Europe/Berlin"},
        steps=MAIN,
    )


def _backfill(client, job, start: str, end: str, rate: float = 10):
    body = {"from": start, "to": end, "ratePerSecond": rate}
    return client.post(f"/api/jobs/{job.pk}/backfill", body, format="json")


def test_it_creates_a_paced_run_per_slot_across_spring_forward(
    team, owner, berlin_job, django_capture_on_commit_callbacks
):
    client = _client(team, owner, ["job:run"])
    response = _backfill(client, berlin_job, "2026-03-28T00:00:00Z", "2026-03-30T23:59:59Z", rate=2)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["slots"], body["created"], body["existing"]) == (3, 3, [])
    runs = list(Run.objects.filter(job=berlin_job).order_by("scheduled_for"))
    # 02:30 CET, then 02:30 does not exist on the 29th (fires at 03:00 CEST), then 02:30 CEST
    assert [run.scheduled_for for run in runs] == [
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]
    assert {(run.triggered_by, run.status, run.attempt) for run in runs} == {("backfill", "pending", 1)}
    assert [str(run.pk) for run in runs] == body["runs"]
    gaps = [(b.not_before - a.not_before).total_seconds() for a, b in zip(runs, runs[1:], strict=False)]
    assert gaps == [0.5, 0.5]
    published: list[list[str]] = []
    with django_capture_on_commit_callbacks(execute=True):
        publish_due_retries(
            runs[0].not_before + timedelta(milliseconds=1), publisher=published.append, horizon=runs[0].not_before
        )
    assert published == [[str(runs[0].pk)]]


def test_a_slot_that_has_a_run_is_reported_and_not_doubled(team, owner, berlin_job):
    client = _client(team, owner, ["job:run"])
    _backfill(client, berlin_job, "2026-03-28T00:00:00Z", "2026-03-28T23:00:00Z")
    body = _backfill(client, berlin_job, "2026-03-28T00:00:00Z", "2026-03-29T23:00:00Z").json()
    assert (body["slots"], body["created"], body["existing"]) == (2, 1, ["2026-03-28T01:30:00Z"])
    assert Run.objects.filter(job=berlin_job).count() == 2


def test_more_than_a_thousand_slots_or_a_future_end_is_refused(team, owner, team_job_every_minute):
    client = _client(team, owner, ["job:run"])
    response = _backfill(client, team_job_every_minute, "2026-01-01T00:00:00Z", "2026-01-01T16:41:00Z")
    assert response.status_code == 400
    assert [e["location"] for e in response.json()["errors"]] == ["body.to"]
    assert "more than 1000 slots" in str(response.json()["errors"][0])
    ok = _backfill(client, team_job_every_minute, "2026-01-01T00:00:00Z", "2026-01-01T16:39:00Z")
    assert ok.json()["slots"] == 1000
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    future = _backfill(client, team_job_every_minute, "2026-01-01T00:00:00Z", later)
    assert future.status_code == 400
    assert Run.objects.filter(job=team_job_every_minute).count() == 1000


def test_roles(team, owner, other_team, berlin_job):
    reader = _client(team, owner, ["job:read"])
    assert _backfill(reader, berlin_job, "2026-03-28T00:00:00Z", "2026-03-29T00:00:00Z").status_code == 403
    outsider = _client(other_team, None, ["job:run", "job:read"])
    assert _backfill(outsider, berlin_job, "2026-03-28T00:00:00Z", "2026-03-29T00:00:00Z").status_code == 404
    assert not Run.objects.filter(job=berlin_job).exists()


@pytest.fixture
def team_job_every_minute(team):
    return job_write(team=team, fields={"natural_id": "minutely", "cron_expression": "* * * * *"}, steps=MAIN)
