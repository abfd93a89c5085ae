"""prunner (seed 002, prunner-swagger.yml): job detail against the spec's `job`/`task`, cancel, schedule, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from history.models import Run, RunStep
from jobs.models import JobStep
from tests.api_support import add_step, make_runs
from tests.conftest import SEEDS, seed_examples
from tests.history.dialects.conftest import prunner_schema, validate

pytestmark = pytest.mark.django_db

SEED = SEEDS / "002_c2303a517471ce70.txt"
# The seed's job example (its second, with "Z" times), restated so the test runs where ../shared is absent.
SEED_JOB = {
    "canceled": True,
    "completed": True,
    "created": "2025-05-04T09:42:00Z",
    "end": "2025-05-04T09:42:00Z",
    "errored": True,
    "id": "string",
    "lastError": "string",
    "pipeline": "my_pipeline",
    "start": "2025-05-04T09:42:00Z",
    "tasks": [
        {
            "dependsOn": ["string"],
            "end": "2025-05-04T09:42:00Z",
            "error": "string",
            "errored": True,
            "exitCode": 42,
            "name": "task_name",
            "skipped": True,
            "start": "2025-05-04T09:42:00Z",
            "status": "waiting",
        }
    ],
    "user": "j.doe",
    "variables": {"tags": ["foo", "bar"]},
}
SEED_ERROR = {"error": "string"}
T0 = datetime(2025, 5, 4, 9, 42, tzinfo=UTC)


@pytest.mark.skipif(not SEED.exists(), reason="shared/seeds is not beside the repository")
def test_the_restated_examples_are_the_seeds():
    examples = seed_examples(SEED)
    assert examples[:2] == [SEED_ERROR, SEED_ERROR]
    assert examples[3] == SEED_JOB
    assert examples[2].keys() == SEED_JOB.keys()


def _detail(client, run_id) -> dict:
    response = client.get(f"/job/detail?id={run_id}")
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body, prunner_schema("job"))
    for task in body["tasks"]:
        validate(task, prunner_schema("task"))
    return body


def _error(response, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    validate(body, prunner_schema("genericErrorResponse"))
    assert list(body) == ["error"]
    return body["error"]


@pytest.fixture
def failed_run(job, operator) -> Run:
    """Seed-like: a run by j.doe with variables, whose second step failed after the first."""
    run = make_runs(job, 1, start=T0, end_reason=Run.EndReason.FAILED, error="HTTP 500", exit_code=1)[0]
    Run.objects.filter(pk=run.pk).update(
        started_at=T0, finished_at=T0 + timedelta(seconds=3), triggered_by_user=operator, variables={"tags": ["foo"]}
    )
    add_step(run, "main", started_at=T0, finished_at=T0 + timedelta(seconds=1), exit_code=0)
    add_step(
        run,
        "report",
        status=RunStep.Status.ERROR,
        position=1,
        depends_on=["main"],
        error="HTTP 500",
        exit_code=1,
        started_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=3),
    )
    return run


def test_a_failed_run_has_every_seed_key(as_user, viewer, failed_run):
    body = _detail(as_user(viewer), failed_run.pk)
    assert list(body) == list(SEED_JOB)
    assert [list(task) for task in body["tasks"]] == [
        [k for k in SEED_JOB["tasks"][0] if k != "error"],
        list(SEED_JOB["tasks"][0]),
    ]
    assert body == {
        "canceled": False,
        "completed": True,
        "created": "2025-05-04T09:42:00Z",
        "end": "2025-05-04T09:42:03Z",
        "errored": True,
        "id": str(failed_run.pk),
        "lastError": "HTTP 500",
        "pipeline": "nightly-report",
        "start": "2025-05-04T09:42:00Z",
        "tasks": [
            {
                "dependsOn": [],
                "end": "2025-05-04T09:42:01Z",
                "errored": False,
                "exitCode": 0,
                "name": "main",
                "skipped": False,
                "start": "2025-05-04T09:42:00Z",
                "status": "done",
            },
            {
                "dependsOn": ["main"],
                "end": "2025-05-04T09:42:03Z",
                "error": "HTTP 500",
                "errored": True,
                "exitCode": 1,
                "name": "report",
                "skipped": False,
                "start": "2025-05-04T09:42:01Z",
                "status": "error",
            },
        ],
        "user": "oscar",
        "variables": {"tags": ["foo"]},
    }


def test_tasks_are_ordered_by_dependencies_then_name(as_user, viewer, job):
    run = make_runs(job, 1)[0]
    # Positions deliberately disagree with the expected order.
    add_step(run, "zeta", position=0)
    add_step(run, "beta", position=1, depends_on=["alpha", "zeta"])
    add_step(run, "main", position=2)
    add_step(run, "alpha", position=3, depends_on=["main"])
    names = [task["name"] for task in _detail(as_user(viewer), run.pk)["tasks"]]
    assert names == ["main", "alpha", "zeta", "beta"]


@pytest.mark.parametrize(
    ("status", "end_reason", "flags"),
    [
        ("pending", "", (False, False, False)),
        ("running", "", (False, False, False)),
        ("ended", "success", (False, True, False)),
        ("ended", "stopped", (True, True, False)),
        ("ended", "timeout", (False, True, True)),
        ("ended", "skipped", (False, True, True)),
    ],
)
def test_canceled_completed_errored(as_user, viewer, job, status, end_reason, flags):
    run = make_runs(job, 1, status=status, end_reason=end_reason)[0]
    body = _detail(as_user(viewer), run.pk)
    assert (body["canceled"], body["completed"], body["errored"]) == flags
    assert ("lastError" in body) == flags[2]
    assert body["user"] == ""


def test_a_pending_run_lists_its_jobs_steps_as_waiting(as_user, viewer, job):
    JobStep.objects.create(job=job, name="notify", kind="webhook", depends_on=["main"], position=1, config={})
    run = make_runs(job, 1, status=Run.Status.PENDING, end_reason="")[0]
    tasks = _detail(as_user(viewer), run.pk)["tasks"]
    assert [(t["name"], t["status"], t["dependsOn"]) for t in tasks] == [
        ("main", "waiting", []),
        ("notify", "waiting", ["main"]),
    ]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 400, "required"),
        ("?id=", 400, "required"),
        ("?id=52a5cb79", 400, "not a job id"),
        ("?id=52a5cb79-7556-4c52-8e6f-dd6aaf1bc4c8", 404, "not found"),
    ],
)
def test_bad_ids(as_user, viewer, query, status, message):
    client = as_user(viewer)
    assert message in _error(client.get(f"/job/detail{query}"), status)
    assert message in _error(client.post(f"/job/cancel{query}"), status)


def test_no_credentials_answer_prunners_error(api, failed_run):
    response = api.get(f"/job/detail?id={failed_run.pk}")
    assert "credentials" in _error(response, 401)
    assert response["WWW-Authenticate"] == "Bearer"


def test_cancel_a_pending_run(as_user, operator, job):
    run = make_runs(job, 1, status=Run.Status.PENDING, end_reason="")[0]
    response = as_user(operator).post(f"/job/cancel?id={run.pk}")
    assert (response.status_code, response.content) == (200, b"")
    run.refresh_from_db()
    assert (run.status, run.end_reason) == (Run.Status.ENDED, Run.EndReason.STOPPED)


def test_cancel_a_running_run_asks_it_to_stop(as_key, job):
    run = make_runs(job, 1, status=Run.Status.RUNNING, end_reason="")[0]
    assert as_key(["job:run"]).post(f"/job/cancel?id={run.pk}").status_code == 200
    run.refresh_from_db()
    assert (run.status, run.cancel_requested_at is not None) == (Run.Status.RUNNING, True)


def test_cancelling_an_ended_run_is_409(as_user, operator, failed_run):
    assert "already ended" in _error(as_user(operator).post(f"/job/cancel?id={failed_run.pk}"), 409)


def test_schedule_triggers_a_run(as_user, operator, job):
    body = {"pipeline": job.natural_id, "variables": {"databases": ["mysql", "postgresql"], "tag_name": "v1.17.4"}}
    response = as_user(operator).post("/pipelines/schedule", body, format="json")
    assert response.status_code == 202, response.content
    validate(response.json(), prunner_schema("pipelinesScheduleResponse"))
    assert list(response.json()) == ["jobId"]
    run = Run.objects.get(pk=response.json()["jobId"])
    assert (run.job, run.triggered_by, run.triggered_by_user, run.status) == (job, "api", operator, "pending")
    assert run.variables == body["variables"]
    assert _detail(as_user(operator), run.pk)["variables"] == body["variables"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "body.pipeline"),
        ({"pipeline": "bad name!"}, 400, "body.pipeline"),
        ({"pipeline": "nightly-report", "variables": ["a"]}, 400, "body.variables"),
        ({"pipeline": "no-such-job"}, 404, "no-such-job"),
        ([], 400, "body"),
    ],
)
def test_schedule_bad_input(as_user, operator, job, body, status, message):
    response = as_user(operator).post("/pipelines/schedule", body, format="json")
    assert message in _error(response, status)
    assert not Run.objects.exists()


def test_schedule_needs_job_run(as_user, viewer, job):
    assert "job:run" in _error(
        as_user(viewer).post("/pipelines/schedule", {"pipeline": str(job.pk)}, format="json"), 403
    )


def test_schedule_takes_json_only(as_user, operator, job):
    response = as_user(operator).post("/pipelines/schedule", {"pipeline": job.natural_id})  # multipart
    assert "Unsupported media type" in _error(response, 415)
    assert not Run.objects.exists()
