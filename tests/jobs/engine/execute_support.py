"""Helpers for the executor tests: jobs with steps, pending runs, and one call to the executor."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import OperationalError, connection
from django.utils import timezone

from history.models import Run
from jobs.engine.execute import execute_runs
from jobs.models import Job, JobStep, Team
from tests.factories import JobFactory


def http_config(url: str, **extra: Any) -> dict[str, Any]:
    return {"method": "GET", "url": url, "headers": {}, "body": "", "timeout_ms": 5000, **extra}


def make_job(team: Team, url: str, *, steps: list[dict[str, Any]] | None = None, **fields: Any) -> Job:
    """A job whose main step requests `url`; `steps` adds more (name, kind, config, depends_on, run_if)."""
    main_config = fields.pop("main_config", {})
    job = JobFactory(team=team, url=url, **fields)
    main = job.steps.get(name="main")
    main.config = {**http_config(url), **main_config}
    main.save()
    for position, step in enumerate(steps or [], start=1):
        JobStep.objects.create(job=job, position=position, **step)
    return job


def make_run(job: Job, *, scheduled_for: datetime | None = None, **fields: Any) -> Run:
    return Run.objects.create(
        job=job,
        team=job.team,
        scheduled_for=scheduled_for or timezone.now(),
        status=Run.Status.PENDING,
        backoff_limit=job.retry_limit,
        **fields,
    )


def execute(run: Run) -> Run:
    execute_runs([str(run.pk)])
    run.refresh_from_db()
    return run


def steps_of(run: Run) -> dict[str, Any]:
    return {step.name: step for step in run.steps.all()}


def execute_watching(run: Run, probe: Callable[[], Any], timeout: float = 10) -> tuple[Run, Any]:
    """Execute `run` while another connection polls `probe` until it returns something truthy
    (what the database shows mid-run); returns the ended run and that first truthy answer (or None)."""
    seen: list[Any] = []

    def watch() -> None:
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    answer = probe()
                except OperationalError:  # the in-memory test database's shared cache locks whole tables
                    answer = None
                if answer:
                    seen.append(answer)
                    return
                time.sleep(0.05)
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    ended = execute(run)
    watcher.join()
    return ended, seen[0] if seen else None
