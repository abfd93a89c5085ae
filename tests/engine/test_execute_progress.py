"""Live progress: while a run is in flight, its steps' statuses reach the database."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection

from history.models import RunStep
from tests.engine.execute_support import execute, http_config, make_job, make_run


@pytest.mark.django_db(transaction=True)
def test_it_shows_a_running_runs_step_progress_before_the_run_ends(team, target):
    job = make_job(
        team,
        target.url("/ok"),
        steps=[{"name": "slow", "config": http_config(target.url("/delay/2500")), "depends_on": ["main"]}],
    )
    run = make_run(job)
    seen: dict[str, str] = {}

    def watch() -> None:
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    statuses = dict(RunStep.objects.filter(run=run).values_list("name", "status"))
                except OperationalError:  # the in-memory test database's shared cache locks whole tables
                    statuses = {}
                if statuses == {"main": "done", "slow": "running"}:
                    seen.update(statuses)
                    return
                time.sleep(0.1)
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    run = execute(run)
    watcher.join()

    assert seen == {"main": "done", "slow": "running"}  # observed mid-run, from another connection
    assert run.end_reason == "success"
    assert dict(run.steps.values_list("name", "status")) == {"main": "done", "slow": "done"}
