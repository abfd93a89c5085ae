"""Northflank (seed 001): exact fields, status mapping, completions per slot, page/per_page/cursor paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from history.models import Run
from tests.api_support import make_runs
from tests.conftest import SEEDS, seed_examples
from tests.factories import JobFactory, MembershipFactory, RunFactory
from tests.history.dialects.conftest import validate

pytestmark = pytest.mark.django_db

SEED = SEEDS / "001_60a057e464e4960e.txt"
# The seed's example, restated so the test runs where ../shared is absent; checked against the page below.
SEED_RESPONSE = {
    "data": {
        "runs": [
            {
                "id": "d34582a4-35bd-4c71-8e7c-e36999b88723",
                "active": 0,
                "backoffLimit": 0,
                "completions": 1,
                "concluded": True,
                "failed": 0,
                "runName": "example-job-5fcf67bc56e1913e21d49504",
                "status": "SUCCESS",
                "succeeded": 0,
                "startedAt": "2020-12-08T11:47:08Z",
                "concludedAt": "2020-12-08T11:52:08Z",
            }
        ]
    },
    "pagination": {"hasNextPage": False, "count": 1},
}
TIME = {"type": ["string", "null"], "format": "date-time"}  # null until the run starts / concludes
FLAG = {"type": "integer", "enum": [0, 1]}
# The seed page's field table as JSON Schema: exactly these fields, these types.
RUN_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": list(SEED_RESPONSE["data"]["runs"][0]),
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "active": FLAG,
        "backoffLimit": {"type": "integer", "minimum": 0},
        "completions": {"type": "integer", "minimum": 0},
        "concluded": {"type": "boolean"},
        "failed": FLAG,
        "runName": {"type": "string"},
        "status": {"enum": ["SUCCESS", "RUNNING", "FAILED"]},
        "succeeded": FLAG,
        "startedAt": TIME,
        "concludedAt": TIME,
    },
}
RESPONSE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["data", "pagination"],
    "properties": {
        "data": {
            "type": "object",
            "additionalProperties": False,
            "required": ["runs"],
            "properties": {"runs": {"type": "array", "items": RUN_SCHEMA}},
        },
        "pagination": {
            "type": "object",
            "additionalProperties": False,
            "required": ["hasNextPage", "count"],
            "properties": {
                "hasNextPage": {"type": "boolean"},
                "cursor": {"type": "string"},
                "count": {"type": "number"},
            },
        },
    },
}


def _runs_url(job, **query) -> str:
    params = "&".join(f"{name}={value}" for name, value in query.items())
    return f"/v1/projects/{job.team.slug}/jobs/{job.natural_id}/runs" + (f"?{params}" if params else "")


def _get(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body, RESPONSE_SCHEMA)
    return body


def _ids(body: dict) -> list[str]:
    return [run["id"] for run in body["data"]["runs"]]


def _newest_first(runs: list[Run]) -> list[str]:
    return [str(r.pk) for r in sorted(runs, key=lambda r: (r.created_at, str(r.pk)), reverse=True)]


@pytest.mark.skipif(not SEED.exists(), reason="shared/seeds is not beside the repository")
def test_the_restated_example_is_the_seeds():
    assert seed_examples(SEED) == [SEED_RESPONSE]


def test_it_answers_the_seeds_keys_in_the_seeds_order(as_user, viewer, job):
    started = datetime(2020, 12, 8, 11, 47, 8, tzinfo=UTC)
    RunFactory(job=job, run_name="nightly-1", started_at=started, finished_at=started + timedelta(minutes=5))
    body = _get(as_user(viewer), _runs_url(job))
    assert list(body) == list(SEED_RESPONSE)
    assert list(body["data"]) == list(SEED_RESPONSE["data"])
    assert list(body["pagination"]) == list(SEED_RESPONSE["pagination"])
    make_runs(job, 1)
    assert list(_get(as_user(viewer), _runs_url(job, per_page=1))["pagination"]) == ["hasNextPage", "cursor", "count"]
    run = body["data"]["runs"][0]
    assert list(run) == list(SEED_RESPONSE["data"]["runs"][0])
    assert (run["runName"], run["startedAt"], run["concludedAt"]) == (
        "nightly-1",
        "2020-12-08T11:47:08Z",
        "2020-12-08T11:52:08Z",
    )


@pytest.mark.parametrize(
    ("status", "end_reason", "expected"),
    [
        ("pending", "", ("RUNNING", 1, False, 0, 0)),
        ("running", "", ("RUNNING", 1, False, 0, 0)),
        ("ended", "success", ("SUCCESS", 0, True, 0, 1)),
        *[
            ("ended", reason, ("FAILED", 0, True, 1, 0))
            for reason in ("failed", "stopped", "timeout", "crashed", "skipped", "missed", "blocked", "log_overflow")
        ],
    ],
)
def test_status_and_flags(as_user, viewer, job, status, end_reason, expected):
    RunFactory(job=job, status=status, end_reason=end_reason, backoff_limit=3)
    run = _get(as_user(viewer), _runs_url(job))["data"]["runs"][0]
    assert (run["status"], run["active"], run["concluded"], run["failed"], run["succeeded"]) == expected
    assert run["backoffLimit"] == 3


def test_completions_count_the_concluded_attempts_of_the_slot(as_user, viewer, job):
    slot = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    first = RunFactory(job=job, scheduled_for=slot, attempt=1, end_reason="failed")
    second = RunFactory(job=job, scheduled_for=slot, attempt=2, end_reason="timeout", retry_of=first)
    third = RunFactory(job=job, scheduled_for=slot, attempt=3, status="running", end_reason="", retry_of=second)
    alone = RunFactory(job=job, scheduled_for=slot - timedelta(minutes=1))
    waiting = RunFactory(job=job, scheduled_for=slot + timedelta(minutes=1), status="pending", end_reason="")
    runs = {run["id"]: run["completions"] for run in _get(as_user(viewer), _runs_url(job))["data"]["runs"]}
    assert runs == {str(first.pk): 2, str(second.pk): 2, str(third.pk): 2, str(alone.pk): 1, str(waiting.pk): 0}


def test_per_page_and_page(as_user, viewer, job):
    expected = _newest_first(make_runs(job, 7))
    client = as_user(viewer)
    first = _get(client, _runs_url(job, per_page=3))
    assert (_ids(first), first["pagination"]["count"], first["pagination"]["hasNextPage"]) == (expected[:3], 3, True)
    third = _get(client, _runs_url(job, per_page=3, page=3))
    assert (_ids(third), third["pagination"]["hasNextPage"]) == (expected[6:], False)
    assert "cursor" not in third["pagination"]
    assert _get(client, _runs_url(job, per_page=3, page=4))["data"]["runs"] == []


def test_per_page_defaults_to_50(as_user, viewer, job):
    make_runs(job, 51)
    body = _get(as_user(viewer), _runs_url(job))
    assert (body["pagination"]["count"], body["pagination"]["hasNextPage"]) == (50, True)


def test_the_cursor_neither_skips_nor_repeats_while_runs_arrive(as_user, viewer, job):
    expected = _newest_first(make_runs(job, 10))
    client = as_user(viewer)
    seen: list[str] = []
    body = _get(client, _runs_url(job, per_page=3))
    while True:
        seen += _ids(body)
        # Newer runs arrive between pages; a page number would now shift, the cursor does not.
        RunFactory(job=job)
        if not body["pagination"]["hasNextPage"]:
            break
        body = _get(client, _runs_url(job, per_page=3, cursor=body["pagination"]["cursor"]))
    assert seen == expected


def test_the_cursor_wins_over_page(as_user, viewer, job):
    expected = _newest_first(make_runs(job, 6))
    client = as_user(viewer)
    cursor = _get(client, _runs_url(job, per_page=2))["pagination"]["cursor"]
    assert _ids(_get(client, _runs_url(job, per_page=2, page=3, cursor=cursor))) == expected[2:4]
    # It wins, but a page out of range is still refused, as the schema says.
    response = client.get(_runs_url(job, per_page=2, page=0, cursor=cursor))
    assert response.status_code == 400
    assert [error["location"] for error in response.json()["errors"]] == ["query.page"]


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ("per_page=101", "query.per_page"),
        ("per_page=0", "query.per_page"),
        ("per_page=ten", "query.per_page"),
        ("per_page=5&per_page=", "query.per_page"),  # given twice: not quietly the last one
        ("page=0", "query.page"),
        ("cursor=not-a-cursor", "query.cursor"),
    ],
)
def test_bad_paging_is_a_problem(as_user, viewer, job, query, location):
    response = as_user(viewer).get(f"{_runs_url(job)}?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert [error["location"] for error in response.json()["errors"]] == [location]


def test_the_project_names_the_team(as_user, owner, job, other_team):
    # The same natural ID in two of the caller's teams: the project path disambiguates (no 409).
    MembershipFactory(team=other_team, user=owner, role="viewer")
    twin = JobFactory(team=other_team, natural_id=job.natural_id)
    RunFactory(job=twin)
    client = as_user(owner)
    assert len(_get(client, _runs_url(twin))["data"]["runs"]) == 1
    assert _get(client, _runs_url(job))["data"]["runs"] == []
    assert client.get(f"/v1/projects/{job.team.slug}/jobs/{twin.pk}/runs").status_code == 404
    assert client.get(f"/v1/projects/nope/jobs/{job.pk}/runs").status_code == 404


@pytest.mark.parametrize("per_page", [1, 60])
def test_queries_do_not_grow_with_the_page(as_user, viewer, job, per_page, django_assert_max_num_queries):
    for run in make_runs(job, 60):
        RunFactory(job=job, scheduled_for=run.scheduled_for, attempt=2, retry_of=run)
    client = as_user(viewer)
    # session + user + memberships + team + job + page + steps = 7
    with django_assert_max_num_queries(7):
        body = client.get(_runs_url(job, per_page=per_page)).json()
    assert body["pagination"]["count"] == per_page
    assert {run["completions"] for run in body["data"]["runs"]} == {2}
