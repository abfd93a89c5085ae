"""Bad input answers 400 problem+json naming the location, and changes nothing; unknown things 404."""

from __future__ import annotations

import pytest

from history.models import Run
from jobs.models import Job, JobStep
from tests.api_support import make_runs

pytestmark = pytest.mark.django_db

VALID_JOB = {
    "naturalId": "new-job",
    "schedule": {"kind": "cron", "expression": "*/5 * * * *", "timezone": "Europe/Berlin"},
    "request": {"url": "https://example.com/hook"},
}


def _problem(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    ("query", "location", "value"),
    [
        ("limit=abc", "query.limit", "abc"),
        ("limit=0", "query.limit", "0"),
        ("limit=100000", "query.limit", "100000"),
        ("start=-1", "query.start", "-1"),
        ("sort=bogus", "query.sort", "bogus"),
        ("status=done", "query.status", "done"),
        ("httpStatus=6xx", "query.httpStatus", "6xx"),
        ("createdAfter=yesterday", "query.createdAfter", "yesterday"),
        ("success=maybe", "query.success", "maybe"),
        ("cursor=!!!", "query.cursor", "!!!"),
    ],
)
def test_history_list_rejects_bad_query(as_user, viewer, job, query, location, value):
    body = _problem(as_user(viewer).get(f"/api/jobs/{job.pk}/history?{query}"))
    assert body["errors"][0]["location"] == location
    assert body["errors"][0]["value"] == value
    assert body["instance"] == f"/api/jobs/{job.pk}/history?{query}"


def test_cursor_needs_a_keyset_order(as_user, viewer, job):
    make_runs(job, 3)
    client = as_user(viewer)
    cursor = client.get(f"/api/jobs/{job.pk}/history?limit=1").json()["_links"]["next"]["href"].split("cursor=")[1]
    body = _problem(client.get(f"/api/jobs/{job.pk}/history?sort=duration&cursor={cursor}"))
    assert body["errors"][0]["location"] == "query.cursor"


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"schedule": {"kind": "cron", "expression": "61 * * * *"}}, "body.schedule.expression"),
        ({"schedule": {"kind": "cron", "expression": "* * *"}}, "body.schedule.expression"),
        (
            {"schedule": {"kind": "cron", "expression": "0 3 * * *", "timezone": "Mars/Olympus"}},
            "body.schedule.timezone",
        ),
        ({"request": {"url": "https://x.test/", "headers": {"X-A": "a\r\nX-Injected: 1"}}}, "body.request.headers"),
        ({"request": {"url": "ftp://x.test/"}}, "body.request.url"),
        (
            {
                "request": None,
                "steps": [
                    {"name": "a", "config": {"url": "https://x.test/a"}},
                    {"name": "b", "dependsOn": ["nope"], "config": {"url": "https://x.test/b"}},
                ],
            },
            "body.steps[1].dependsOn",
        ),
        ({"successRule": {"statuses": "200-abc"}}, "body.successRule.statuses"),
        ({"naturalId": "has space"}, "body.naturalId"),
        ({"retry": {"limit": 1000}}, "body.retry.limit"),
    ],
)
def test_job_create_rejects_bad_input_and_creates_nothing(as_user, editor, change, location):
    payload = {**VALID_JOB, **change}
    payload = {k: v for k, v in payload.items() if v is not None}
    body = _problem(as_user(editor).post("/api/jobs", payload, format="json"))
    assert location in [error["location"] for error in body["errors"]], body
    assert Job.objects.count() == 0
    assert JobStep.objects.count() == 0


def test_crlf_error_carries_the_rejected_value(as_user, editor):
    headers = {"X-A": "a\r\nX-Injected: 1"}
    payload = {**VALID_JOB, "request": {"url": "https://x.test/", "headers": headers}}
    body = _problem(as_user(editor).post("/api/jobs", payload, format="json"))
    assert body["errors"][0]["value"] == headers
    assert "CR, LF" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"schedule": {"expression": "not a cron"}},
        {"schedule": {"timezone": "Nowhere/Land"}},
        {"request": {"url": "https://x.test/", "headers": {"X-A": "a\nb"}}},
        {"steps": [{"name": "a", "dependsOn": ["ghost"], "config": {"url": "https://x.test/"}}]},
    ],
)
def test_job_patch_rejects_bad_input_and_changes_nothing(as_user, editor, job, change):
    before = (Job.objects.filter(pk=job.pk).values().get(), list(JobStep.objects.filter(job=job).values()))
    _problem(as_user(editor).patch(f"/api/jobs/{job.pk}", change, format="json"))
    after = (Job.objects.filter(pk=job.pk).values().get(), list(JobStep.objects.filter(job=job).values()))
    assert after == before


def test_bulk_delete_rejects_bad_filters_and_deletes_nothing(as_user, editor, job):
    make_runs(job, 3)
    body = _problem(as_user(editor).post(f"/api/jobs/{job.pk}/history/delete", {"status": "bogus"}, format="json"))
    assert body["errors"][0]["location"] == "body.status"
    assert Run.objects.count() == 3


@pytest.mark.parametrize(
    "path",
    [
        "/api/jobs/no-such-job",
        "/api/jobs/no-such-job/history",
        "/api/jobs/00000000-0000-0000-0000-000000000000/history",
        "/api/jobs/nightly-report/history/00000000-0000-0000-0000-000000000000",
        "/api/jobs/nightly-report/history/not-a-uuid",
        "/api/nothing-here",
    ],
)
def test_unknown_things_are_404_problems(as_user, viewer, job, path):
    _problem(as_user(viewer).get(path), 404)


def test_a_run_of_another_job_is_404(as_user, viewer, job, team):
    from tests.factories import JobFactory

    other = JobFactory(team=team)
    run = make_runs(other, 1)[0]
    _problem(as_user(viewer).get(f"/api/jobs/{job.pk}/history/{run.pk}"), 404)


def test_malformed_json_is_a_400_problem(as_user, editor):
    response = as_user(editor).post("/api/jobs", "{not json", content_type="application/json")
    _problem(response)


def test_export_rejects_an_unknown_format(as_user, viewer, job):
    body = _problem(as_user(viewer).get(f"/api/jobs/{job.pk}/history/export?format=xml"))
    assert body["errors"][0]["location"] == "query.format"


@pytest.mark.parametrize("query", ["q=a%00b", "team=%00x", "q=" + "x" * 201])
def test_job_list_rejects_nul_and_overlong_text(as_user, viewer, job, query):
    _problem(as_user(viewer).get(f"/api/jobs?{query}"))


def test_a_nul_in_a_job_reference_is_404(as_user, viewer, job):
    _problem(as_user(viewer).get("/api/jobs/a%00b"), 404)


def test_any_utc_offset_python_accepts_is_usable(as_user, viewer, job):
    # PostgreSQL refuses offsets past ±15:59; the filter converts to UTC first.
    response = as_user(viewer).get(f"/api/jobs/{job.pk}/history?createdAfter=2024-07-02T11:17:29%2B18:37")
    assert response.status_code == 200


@pytest.mark.parametrize("variables", [{"a": "x\u0000"}, {"a\u0000": 1}, {"a": [{"b": "\u0000"}]}])
def test_variables_with_nul_are_400(as_user, editor, job, variables):
    client = as_user(editor)
    _problem(client.post(f"/api/jobs/{job.pk}/run", {"variables": variables}, format="json"))
    _problem(client.patch(f"/api/jobs/{job.pk}", {"variables": variables}, format="json"))
    assert not Run.objects.exists()


def test_every_bad_query_parameter_is_reported_at_once(as_user, viewer, job):
    body = _problem(as_user(viewer).get(f"/api/jobs/{job.pk}/history?limit=abc&sort=bogus&start=-1"))
    assert [e["location"] for e in body["errors"]] == ["query.sort", "query.limit", "query.start"]
    body = _problem(as_user(viewer).get("/api/jobs?limit=0&sort=nope"))
    assert {e["location"] for e in body["errors"]} == {"query.sort", "query.limit"}
