"""A run that succeeded with a warning in each dialect: Informer's `warnings: true` and `warning`; prunner's
`lastError` for a failed step (it has nothing for an anomaly); RunWisp's Run, which has no field for it."""

from __future__ import annotations

import pytest

from history.models import Run, RunStep
from tests.api_support import add_step, make_runs
from tests.history.dialects.conftest import prunner_schema, runwisp_schema, validate

pytestmark = pytest.mark.django_db

DURATION = "Took 2,000 ms, outside 750 ms–1,250 ms: the median 1,000 ms ± 5·MAD (50 ms) of the last 10 successful runs."


@pytest.fixture
def warned(job) -> Run:
    [run] = make_runs(job, 1, warnings=True, warning_kind="duration", warning=DURATION, duration_ms=2000)
    add_step(run, "main", exit_code=0)
    return run


@pytest.fixture
def step_warned(job) -> Run:
    [run] = make_runs(job, 1, warnings=True, warning_kind="step", warning="The request succeeded but 'report' failed.")
    add_step(run, "main", exit_code=0)
    add_step(run, "report", status=RunStep.Status.ERROR, position=1, error="HTTP 500", exit_code=1)
    return run


def test_informer_says_warnings_true_and_why(as_user, viewer, job, warned):
    item = as_user(viewer).get(f"/api/jobs/{job.pk}/history/{warned.pk}").json()
    assert (item["success"], item["warnings"]) == (True, True)
    assert item["warning"] == {"kind": "duration", "message": DURATION}
    listed = as_user(viewer).get(f"/api/jobs/{job.pk}/history").json()["_embedded"]["inf:job-history"]
    assert [(i["warnings"], i["warning"]["kind"]) for i in listed] == [(True, "duration")]


def test_informer_has_no_warning_for_a_plain_success(as_user, viewer, job):
    [run] = make_runs(job, 1)
    item = as_user(viewer).get(f"/api/jobs/{job.pk}/history/{run.pk}").json()
    assert (item["warnings"], item["warning"]) == (False, None)


def test_informer_names_a_step_warning_stored_before_kinds_existed(as_user, viewer, job):
    [run] = make_runs(job, 1, warnings=True)
    item = as_user(viewer).get(f"/api/jobs/{job.pk}/history/{run.pk}").json()
    assert item["warning"] == {"kind": "step", "message": "A step other than the request failed."}


def test_prunner_shows_a_warned_run_as_completed_not_errored(as_user, viewer, warned):
    body = as_user(viewer).get(f"/job/detail?id={warned.pk}").json()
    validate(body, prunner_schema("job"))
    assert (body["completed"], body["errored"], body["canceled"]) == (True, False, False)
    assert "lastError" not in body


def test_prunner_gives_the_failed_steps_error_as_last_error_of_a_successful_run(as_user, viewer, step_warned):
    body = as_user(viewer).get(f"/job/detail?id={step_warned.pk}").json()
    validate(body, prunner_schema("job"))
    assert (body["errored"], body["lastError"]) == (False, "HTTP 500")
    assert [task["errored"] for task in body["tasks"]] == [False, True]


def test_runwisp_keeps_to_its_run_schema(as_user, viewer, job, warned):
    body = as_user(viewer).get(f"/api/tasks/{job.natural_id}/runs").json()
    validate(body, runwisp_schema("RunsResponseBody"))  # additionalProperties: false
    [run] = body["runs"]
    assert (run["id"], run["end_reason"], run["exit_code"]) == (str(warned.pk), "success", 0)
