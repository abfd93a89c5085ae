"""A scheduled run queued before its job was paused ends stopped; a manual run still goes."""

from __future__ import annotations

import pytest

from tests.jobs.engine.execute_support import execute, make_job, make_run, steps_of


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_run_of_a_paused_job_ends_stopped_without_a_request(team, target):
    job = make_job(team, target.url("/ok"), enabled=False)
    run = execute(make_run(job, triggered_by="cron"))

    assert (run.status, run.end_reason, run.error) == ("ended", "stopped", "Stopped: the job was paused.")
    assert {step.status for step in steps_of(run).values()} == {"canceled"}
    assert target.received("/ok") == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("fields", "triggered_by"),
    [({"enabled": False}, "api"), ({"enabled": False, "schedule_kind": "once", "cron_expression": ""}, "cron")],
)
def test_manual_runs_and_dispatched_one_offs_still_fire(team, target, fields, triggered_by):
    run = execute(make_run(make_job(team, target.url("/ok"), **fields), triggered_by=triggered_by))

    assert run.end_reason == "success"
    assert len(target.received("/ok")) == 1
