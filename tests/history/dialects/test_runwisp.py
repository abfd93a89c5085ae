"""RunWisp (seed 004, runwisp-openapi.json): RunsResponseBody and ErrorModel, offset/limit/total, filters, sorting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from history.models import Run
from tests.api_support import make_runs
from tests.conftest import SEEDS, seed_examples
from tests.factories import JobFactory, MembershipFactory, RunFactory
from tests.history.dialects.conftest import runwisp_schema, validate

pytestmark = pytest.mark.django_db

SEED = SEEDS / "004_8c7e68db9d2fdc97.txt"
# The seed's two examples, restated so the test runs where ../shared is absent; checked against the page below.
SEED_RUNS = {
    "$schema": "http://localhost:9477/schemas/RunsResponseBody.json",
    "runs": [
        {
            "$schema": "http://localhost:9477/schemas/Run.json",
            "end_reason": "success",
            "status": "pending",
            "triggered_by": "cron",
        }
    ],
}
SEED_ERROR = {
    "$schema": "http://localhost:9477/schemas/ErrorModel.json",
    "detail": "Property foo is required but is missing.",
    "instance": "https://example.com/error-log/abc123",
    "status": 400,
    "title": "Bad Request",
    "type": "about:blank",
}
# The Run fields the seed page lists ($schema, a link huma adds, is left out: we serve no such schema URL).
SEED_RUN_FIELDS = {
    "created_at",
    "end_at",
    "end_reason",
    "exit_code",
    "external_execution_id",
    "id",
    "replica_index",
    "retry_attempt",
    "retry_of_run_id",
    "start_at",
    "status",
    "task_name",
    "triggered_by",
}
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# The seed's enum for triggered_by ("Allowed values: cron api cloud"), restated as the examples are.
SEED_TRIGGERS = {"cron", "api", "cloud"}


@pytest.mark.skipif(not SEED.exists(), reason="shared/seeds is not beside the repository")
def test_the_restated_examples_are_the_seeds():
    assert seed_examples(SEED) == [SEED_RUNS, SEED_ERROR]


def _get(client, task: str, query: str = "") -> dict:
    response = client.get(f"/api/tasks/{task}/runs{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body, runwisp_schema("RunsResponseBody"))
    return body


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    validate(body, runwisp_schema("ErrorModel"))
    assert set(body) - {"errors"} <= set(SEED_ERROR)
    assert (body["status"], body["type"]) == (status, "about:blank")
    return body


def _ids(body: dict) -> list[str]:
    return [run["id"] for run in body["runs"]]


def test_an_ended_retry_has_every_field_but_the_external_id(as_user, viewer, job):
    first = RunFactory(job=job, end_reason="failed", exit_code=1)
    retry = RunFactory(
        job=job,
        attempt=2,
        retry_of=first,
        triggered_by="dashboard",
        exit_code=0,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=2),
    )
    body = _get(as_user(viewer), job.natural_id)
    assert body["total"] == 2
    item = body["runs"][0]
    assert set(item) == SEED_RUN_FIELDS - {"external_execution_id"}
    assert set(SEED_RUNS["runs"][0]) - {"$schema"} <= set(item)
    assert item == {
        "created_at": item["created_at"],
        "end_at": "2025-03-01T12:00:02Z",
        "end_reason": "success",
        "exit_code": 0,
        "id": str(retry.pk),
        "replica_index": 0,
        "retry_attempt": 1,
        "retry_of_run_id": str(first.pk),
        "start_at": "2025-03-01T12:00:00Z",
        "status": "ended",
        "task_name": "nightly-report",
        "triggered_by": "api",
    }
    assert body["runs"][1]["retry_attempt"] == 0
    assert "retry_of_run_id" not in body["runs"][1]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "pending", "end_reason": ""}, {"status": "pending", "exit_code": 0}),
        ({"status": "running", "end_reason": "", "started_at": T0}, {"status": "running", "exit_code": 0}),
        ({"end_reason": "missed"}, {"end_reason": "missed"}),
        ({"end_reason": "blocked", "exit_code": 125}, {"end_reason": "failed", "exit_code": 125}),
        ({"end_reason": "timeout", "exit_code": 124}, {"end_reason": "timeout", "exit_code": 124}),
        ({"triggered_by": "cron"}, {"triggered_by": "cron"}),
        ({"triggered_by": "api"}, {"triggered_by": "api"}),
        ({"triggered_by": "dashboard"}, {"triggered_by": "api"}),
        # RunWisp has no backfill trigger: a backfill is asked for over the API (or the dashboard).
        ({"triggered_by": "backfill"}, {"triggered_by": "api"}),
        # RunWisp knows cron, api and cloud: a job chain's run is one Hourglass started itself.
        ({"triggered_by": "chain"}, {"triggered_by": "cron"}),
    ],
)
def test_field_mapping(as_user, viewer, job, fields, expected):
    RunFactory(job=job, **fields)
    item = _get(as_user(viewer), job.natural_id)["runs"][0]
    assert {name: item.get(name) for name in expected} == expected
    assert ("end_reason" in item) == (item["status"] == "ended")
    assert ("start_at" in item) == ("started_at" in fields)


@pytest.mark.skipif(not SEED.exists(), reason="shared/seeds is not beside the repository")
def test_the_restated_trigger_enum_is_the_seeds():
    text = SEED.read_text()
    allowed = text[text.index("\ntriggered_by\n") :].split("Allowed values:", 1)[1].splitlines()[0].split()
    assert set(allowed) == SEED_TRIGGERS


def test_every_trigger_renders_as_a_value_of_runwisps_enum(as_user, viewer, job):
    for index, trigger in enumerate(Run.Trigger.values):
        RunFactory(job=job, triggered_by=trigger, scheduled_for=T0 + timedelta(minutes=index))
    body = _get(as_user(viewer), job.natural_id)
    assert len(body["runs"]) == len(Run.Trigger.values)
    assert {run["triggered_by"] for run in body["runs"]} <= SEED_TRIGGERS


def test_offset_limit_and_total(as_user, viewer, job):
    expected = [str(r.pk) for r in reversed(make_runs(job, 7))]
    client = as_user(viewer)
    body = _get(client, job.natural_id, "?limit=3&offset=2")
    assert (_ids(body), body["total"]) == (expected[2:5], 7)
    assert _get(client, job.natural_id, "?offset=10") == {"runs": [], "total": 7}
    assert _ids(_get(client, job.natural_id, "?limit=1000")) == expected


def test_limit_defaults_to_50(as_user, viewer, job):
    make_runs(job, 51)
    body = _get(as_user(viewer), job.natural_id)
    assert (len(body["runs"]), body["total"]) == (50, 51)


def test_filters(as_user, viewer, job):
    make_runs(job, 2, run_name="nightly-ok")
    failed = make_runs(job, 1, end_reason="failed", error="HTTP 503")[0]
    running = make_runs(job, 1, status="running", end_reason="")[0]
    client = as_user(viewer)
    task = job.natural_id
    assert _ids(_get(client, task, "?status=running")) == [str(running.pk)]
    assert _get(client, task, "?status=ended")["total"] == 3
    assert _ids(_get(client, task, "?search=503")) == [str(failed.pk)]
    assert _get(client, task, f"?task_name={task}")["total"] == 4
    assert _get(client, task, "?task_name=another-task") == {"runs": [], "total": 0}


@pytest.mark.parametrize(
    ("query", "key", "reverse"),
    [
        ("", lambda r: (r.created_at, str(r.pk)), True),
        ("?sort_field=&sort_direction=", lambda r: (r.created_at, str(r.pk)), True),
        ("?sort_field=created_at&sort_direction=asc", lambda r: (r.created_at, str(r.pk)), False),
        ("?sort_field=task_name&sort_direction=asc", lambda r: (r.created_at, str(r.pk)), False),
        ("?sort_field=duration&sort_direction=asc", lambda r: (r.duration_ms, str(r.pk)), False),
        ("?sort_field=exit_code", lambda r: (r.exit_code, str(r.pk)), True),
        ("?sort_field=start_at&sort_direction=desc", lambda r: (r.started_at, str(r.pk)), True),
        ("?sort_field=status&sort_direction=asc", lambda r: (r.status, str(r.pk)), False),
    ],
)
def test_sorting(as_user, viewer, job, query, key, reverse):
    runs = make_runs(job, 6)
    for index, run in enumerate(runs):
        run.duration_ms = (index * 37) % 5 * 100
        run.exit_code = (index * 7) % 4
        run.started_at = T0 + timedelta(seconds=(index * 5) % 6)
        run.status = ("ended", "running")[index % 2]
    Run.objects.bulk_update(runs, ["duration_ms", "exit_code", "started_at", "status"])
    body = _get(as_user(viewer), job.natural_id, query)
    assert _ids(body) == [str(r.pk) for r in sorted(runs, key=key, reverse=reverse)]


@pytest.mark.parametrize(
    ("task", "query", "location", "value"),
    [
        (quote("bad name!"), "", "path.taskName", "bad name!"),
        ("x" * 101, "", "path.taskName", "x" * 101),
        ("nightly-report", "?limit=0", "query.limit", "0"),
        ("nightly-report", "?limit=1001", "query.limit", "1001"),
        ("nightly-report", "?offset=-1", "query.offset", "-1"),
        ("nightly-report", "?status=done", "query.status", "done"),
        ("nightly-report", "?sort_field=name", "query.sort_field", "name"),
        ("nightly-report", "?sort_direction=up", "query.sort_direction", "up"),
        ("nightly-report", "?search=" + "s" * 201, "query.search", "s" * 201),
        ("nightly-report", "?task_name=" + "t" * 101, "query.task_name", "t" * 101),
    ],
)
def test_bad_input_is_a_huma_problem(as_user, viewer, job, task, query, location, value):
    body = _problem(as_user(viewer).get(f"/api/tasks/{task}/runs{query}"), 400)
    assert [(e["location"], e["value"]) for e in body["errors"]] == [(location, value)]
    assert body["title"] == "Bad Request"
    assert body["instance"].startswith("http://testserver/api/tasks/")


def test_an_unknown_task_is_404(as_user, viewer, job):
    body = _problem(as_user(viewer).get("/api/tasks/no-such-task/runs"), 404)
    assert "errors" not in body


def test_a_name_in_two_teams_is_409_without_extension_members(as_user, owner, job, other_team):
    MembershipFactory(team=other_team, user=owner, role="viewer")
    JobFactory(team=other_team, natural_id=job.natural_id)
    body = _problem(as_user(owner).get(f"/api/tasks/{job.natural_id}/runs"), 409)
    assert str(job.pk) in body["detail"]


@pytest.mark.parametrize("limit", [1, 60])
def test_queries_do_not_grow_with_the_page(as_user, viewer, job, limit, django_assert_max_num_queries):
    make_runs(job, 60)
    client = as_user(viewer)
    # session + user + memberships + job + page + steps + count = 7
    with django_assert_max_num_queries(7):
        body = client.get(f"/api/tasks/{job.natural_id}/runs?limit={limit}").json()
    assert (len(body["runs"]), body["total"]) == (limit, 60)
