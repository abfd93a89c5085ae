"""Steps run in dependency order and honour run_if; a failed dependency skips its dependants."""

from __future__ import annotations

import pytest

from tests.jobs.engine.execute_support import execute, http_config, make_job, make_run, steps_of


@pytest.mark.django_db(transaction=True)
def test_it_skips_the_dependants_of_a_failed_step(team, target):
    job = make_job(
        team,
        target.url("/status/500"),
        steps=[
            {"name": "report", "config": http_config(target.url("/ok?step=report")), "depends_on": ["main"]},
            {"name": "after-report", "config": http_config(target.url("/ok?step=x")), "depends_on": ["report"]},
            {
                "name": "cleanup",
                "config": http_config(target.url("/ok?step=cleanup")),
                "depends_on": ["main"],
                "run_if": "always",
            },
            {
                "name": "alarm",
                "config": http_config(target.url("/ok?step=alarm")),
                "depends_on": ["main"],
                "run_if": "on_failure",
            },
        ],
    )
    run = execute(make_run(job))
    steps = steps_of(run)

    assert run.end_reason == "failed"
    assert {name: step.status for name, step in steps.items()} == {
        "main": "error",
        "report": "skipped",
        "after-report": "skipped",
        "cleanup": "done",
        "alarm": "done",
    }
    assert steps["report"].message == "Skipped: dependency 'main' did not succeed"
    assert steps["cleanup"].key == "job:actions.http_request"
    assert sorted(r.query["step"] for r in target.received("/ok")) == ["alarm", "cleanup"]


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_step_after_its_dependency_and_skips_on_failure_steps(team, target):
    job = make_job(
        team,
        target.url("/ok?step=main"),
        steps=[
            # Listed first but depends on "second": dependency order wins over the list.
            {"name": "third", "config": http_config(target.url("/ok?step=third")), "depends_on": ["second"]},
            {"name": "second", "config": http_config(target.url("/ok?step=second")), "depends_on": ["main"]},
            {
                "name": "alarm",
                "config": http_config(target.url("/ok?step=alarm")),
                "depends_on": ["main"],
                "run_if": "on_failure",
            },
        ],
    )
    run = execute(make_run(job))
    steps = steps_of(run)

    assert (run.end_reason, run.warnings) == ("success", False)
    assert [r.query["step"] for r in target.received("/ok")] == ["main", "second", "third"]
    assert (steps["alarm"].status, steps["alarm"].message) == ("skipped", "Skipped: the run has not failed")
    assert steps["second"].finished_at <= steps["third"].started_at


@pytest.mark.django_db(transaction=True)
def test_it_warns_when_the_main_request_succeeded_but_a_later_step_failed(team, target):
    job = make_job(
        team,
        target.url("/ok"),
        retry_limit=3,
        steps=[{"name": "notify-crm", "config": http_config(target.url("/status/503")), "depends_on": ["main"]}],
    )
    run = execute(make_run(job))

    assert (run.end_reason, run.warnings, run.http_status, run.exit_code) == ("success", True, 200, 0)
    later = steps_of(run)["notify-crm"]
    assert (later.status, later.error, later.exit_code, later.http_status) == ("error", "HTTP 503", 1, 503)
    assert not run.retries.exists()  # the job itself succeeded
