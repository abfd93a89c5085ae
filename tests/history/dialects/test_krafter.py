"""Krafter Cron (seed 003): exact fields, ended runs only, newest first, limit 20/100, error and status mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from history.models import Run
from tests.api_support import make_runs
from tests.conftest import SEEDS, seed_examples
from tests.factories import RunFactory
from tests.history.dialects.conftest import validate

pytestmark = pytest.mark.django_db

SEED = SEEDS / "003_66a09d0b2f343e9f.txt"
# The seed's example, restated so the test runs where ../shared is absent; checked against the page below.
SEED_RESPONSE = {
    "data": [
        {
            "id": "e1f2a3b4-c5d6-e7f8-a9b0-c1d2e3f4a5b6",
            "status": "success",
            "http_status": 200,
            "response_body": '{"status":"ok"}',
            "error": None,
            "attempt": 1,
            "duration_ms": 142,
            "started_at": "2025-01-15T10:10:00Z",
            "finished_at": "2025-01-15T10:10:00Z",
        },
        {
            "id": "f2a3b4c5-d6e7-f8a9-b0c1-d2e3f4a5b6c7",
            "status": "failed",
            "http_status": 500,
            "response_body": '{"error":"Internal Server Error"}',
            "error": "HTTP 500",
            "attempt": 3,
            "duration_ms": 1523,
            "started_at": "2025-01-15T10:05:00Z",
            "finished_at": "2025-01-15T10:05:01Z",
        },
    ]
}
TIME = {"type": "string", "format": "date-time"}
# The seed page's "Response Fields" table as JSON Schema: exactly these fields, these types.
EXECUTION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": list(SEED_RESPONSE["data"][0]),
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "status": {"enum": ["success", "failed"]},
        "http_status": {"type": ["integer", "null"]},
        "response_body": {"type": ["string", "null"], "maxLength": 2048 + len("...[truncated]")},
        "error": {"type": ["string", "null"]},
        "attempt": {"type": "integer", "minimum": 1},
        # null only for a run that never fired (skipped, missed): it has no start and took no time.
        "duration_ms": {"type": ["integer", "null"]},
        "started_at": {"anyOf": [TIME, {"type": "null"}]},
        "finished_at": TIME,
    },
}
RESPONSE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["data"],
    "properties": {"data": {"type": "array", "items": EXECUTION_SCHEMA}},
}
T0 = datetime(2025, 1, 15, 10, 5, tzinfo=UTC)


def _get(client, job, query: str = "") -> list[dict]:
    response = client.get(f"/api/v1/cron/jobs/{job.pk}/executions{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body, RESPONSE_SCHEMA)
    return body["data"]


@pytest.mark.skipif(not SEED.exists(), reason="shared/seeds is not beside the repository")
def test_the_restated_example_is_the_seeds():
    assert seed_examples(SEED) == [SEED_RESPONSE]


def test_the_seeds_two_executions_key_for_key(as_key, job):
    failed = RunFactory(
        job=job,
        end_reason="failed",
        attempt=3,
        http_status=500,
        response_body='{"error":"Internal Server Error"}',
        error="HTTP 500",
        duration_ms=1523,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=1),
    )
    succeeded = RunFactory(
        job=job,
        http_status=200,
        response_body='{"status":"ok"}',
        duration_ms=142,
        started_at=T0 + timedelta(minutes=5),
        finished_at=T0 + timedelta(minutes=5),
    )
    data = _get(as_key(["cron:read"]), job, "?limit=5")
    expected = [
        dict(seed, id=str(run.pk)) for seed, run in zip(SEED_RESPONSE["data"], [succeeded, failed], strict=True)
    ]
    assert data == expected
    assert [list(item) for item in data] == [list(item) for item in SEED_RESPONSE["data"]]


def test_only_ended_runs_newest_first(as_user, viewer, job):
    ended = make_runs(job, 3, finished_at=T0)
    make_runs(job, 1, status=Run.Status.RUNNING, end_reason="")
    make_runs(job, 1, status=Run.Status.PENDING, end_reason="")
    ids = [item["id"] for item in _get(as_user(viewer), job)]
    assert ids == [str(run.pk) for run in reversed(ended)]


def test_limit_defaults_to_20_and_goes_to_100(as_user, viewer, job):
    make_runs(job, 101, finished_at=T0)
    client = as_user(viewer)
    assert len(_get(client, job)) == 20
    assert len(_get(client, job, "?limit=100")) == 100
    assert len(_get(client, job, "?limit=1")) == 1


@pytest.mark.parametrize("limit", ["101", "0", "-1", "many"])
def test_a_bad_limit_is_400(as_user, viewer, job, limit):
    response = as_user(viewer).get(f"/api/v1/cron/jobs/{job.pk}/executions?limit={limit}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert [(e["location"], e["value"]) for e in response.json()["errors"]] == [("query.limit", limit)]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # A bad status keeps its status and body.
        ({"end_reason": "failed", "http_status": 503, "response_body": "busy", "error": "HTTP 503", "exit_code": 1},
         ("failed", 503, "busy", "HTTP 503")),
        # A body that broke the success rule after a 200.
        ({"end_reason": "failed", "http_status": 200, "response_body": "{}", "error": "Body does not contain 'ok'"},
         ("failed", 200, "{}", "Body does not contain 'ok'")),
        # Connection-level: no status, no body, the error's class.
        ({"end_reason": "failed", "error": "ClientConnectorError", "exit_code": 125},
         ("failed", None, None, "ClientConnectorError")),
        # A timeout after the status line arrived still reports neither status nor body.
        ({"end_reason": "timeout", "http_status": 200, "error": "TimeoutError", "exit_code": 124},
         ("failed", None, None, "TimeoutError")),
        ({"end_reason": "blocked", "error": "Blocked: 10.0.0.1 is private", "exit_code": 125},
         ("failed", None, None, "Blocked: 10.0.0.1 is private")),
        # Never fired: the end reason stands in for the missing error.
        ({"end_reason": "missed"}, ("failed", None, None, "missed")),
        ({"http_status": 200, "response_body": "ok"}, ("success", 200, "ok", None)),
    ],
)  # fmt: skip
def test_status_http_status_body_and_error(as_user, viewer, job, fields, expected):
    RunFactory(job=job, finished_at=T0, **fields)
    item = _get(as_user(viewer), job)[0]
    assert (item["status"], item["http_status"], item["response_body"], item["error"]) == expected


def test_a_truncated_body_keeps_its_suffix(as_user, viewer, job):
    body = "x" * 2048 + "...[truncated]"
    RunFactory(job=job, finished_at=T0, http_status=200, response_body=body)
    assert _get(as_user(viewer), job)[0]["response_body"] == body


@pytest.mark.parametrize("limit", [1, 100])
def test_queries_do_not_grow_with_the_limit(as_key, job, limit, django_assert_max_num_queries):
    make_runs(job, 100, finished_at=T0)
    client = as_key(["cron:read"])
    # key + creator's role + job + page + steps = 5 (+1 stamping last_used_at on the key's first use)
    with django_assert_max_num_queries(6):
        assert len(_get(client, job, f"?limit={limit}")) == limit
