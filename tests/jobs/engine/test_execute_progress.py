"""Live progress: while a run is in flight, its steps' statuses reach the database."""

from __future__ import annotations

import pytest

from history.models import RunStep
from tests.jobs.engine.execute_support import execute_watching, http_config, make_job, make_run


@pytest.mark.django_db(transaction=True)
def test_it_shows_a_running_runs_step_progress_before_the_run_ends(team, target):
    job = make_job(
        team,
        target.url("/ok"),
        steps=[{"name": "slow", "config": http_config(target.url("/delay/2500")), "depends_on": ["main"]}],
    )
    run = make_run(job)

    def in_flight() -> dict | None:
        statuses = dict(RunStep.objects.filter(run=run).values_list("name", "status"))
        return statuses if statuses == {"main": "done", "slow": "running"} else None

    run, seen = execute_watching(run, in_flight)

    assert seen == {"main": "done", "slow": "running"}  # observed mid-run, from another connection
    assert run.end_reason == "success"
    assert dict(run.steps.values_list("name", "status")) == {"main": "done", "slow": "done"}
