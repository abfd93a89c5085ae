"""History filters: each narrows the list to exactly the matching runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from history.models import Run
from tests.api_support import make_runs
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def runs(job) -> dict[str, Run]:
    def one(name: str, minutes: int, **fields) -> Run:
        return make_runs(job, 1, start=T0 + timedelta(minutes=minutes), run_name=name, **fields)[0]

    return {
        "ok": one("ok", 0, http_status=200),
        "boom": one("boom", 1, end_reason="failed", http_status=503, error="HTTP 503", response_body="upstream down"),
        "teapot": one("teapot", 2, end_reason="failed", http_status=418, error="HTTP 418"),
        "slow": one("slow", 3, end_reason="timeout", error="TimeoutError", attempt=2),
        "live": one("live", 4, status="running", end_reason="", triggered_by="api"),
        "queued": one("queued", 5, status="pending", end_reason="", triggered_by="dashboard"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=ended", {"ok", "boom", "teapot", "slow"}),
        ("status=running", {"live"}),
        ("endReason=failed", {"boom", "teapot"}),
        ("triggeredBy=api", {"live"}),
        ("triggeredBy=dashboard", {"queued"}),
        ("success=true", {"ok"}),
        ("success=false", {"boom", "teapot", "slow", "live", "queued"}),
        ("httpStatus=503", {"boom"}),
        ("httpStatus=5xx", {"boom"}),
        ("httpStatus=4xx", {"teapot"}),
        ("httpStatus=2xx", {"ok"}),
        ("createdAfter=2025-03-01T12:03:00Z", {"slow", "live", "queued"}),
        ("createdBefore=2025-03-01T12:02:00Z", {"ok", "boom"}),
        ("createdAfter=2025-03-01T12:01:00Z&createdBefore=2025-03-01T12:03:00Z", {"boom", "teapot"}),
        ("attempt=2", {"slow"}),
        ("q=timeout", {"slow"}),
        ("q=UPSTREAM", {"boom"}),
        ("q=teap", {"teapot"}),
        ("status=ended&endReason=failed&httpStatus=4xx", {"teapot"}),
    ],
)
def test_filters(as_user, viewer, job, runs, query, expected):
    body = as_user(viewer).get(f"/api/jobs/{job.pk}/history?{query}&limit=100").json()
    names = {Run.objects.get(pk=item["id"]).run_name for item in body["_embedded"]["inf:job-history"]}
    assert names == expected
    assert body["total"] == len(expected)


def test_the_global_list_spans_the_callers_teams_only(as_user, viewer, team, other_team, job, runs):
    second = JobFactory(team=team, natural_id="second")
    make_runs(second, 2)
    make_runs(JobFactory(team=other_team, natural_id="theirs"), 3)
    client = as_user(viewer)
    assert client.get("/api/history").json()["total"] == 8
    assert client.get("/api/history?job=second").json()["total"] == 2
    assert client.get(f"/api/history?job={job.pk}&status=pending").json()["total"] == 1
    assert client.get("/api/history?job=theirs").json()["total"] == 0


def test_the_global_list_pages_with_cursors(as_user, viewer, job, runs):
    client = as_user(viewer)
    seen, href = [], "/api/history?limit=4"
    while href:
        body = client.get(href).json()
        seen += [item["id"] for item in body["_embedded"]["inf:job-history"]]
        href = body["_links"].get("next", {}).get("href")
    assert len(seen) == len(set(seen)) == 6
