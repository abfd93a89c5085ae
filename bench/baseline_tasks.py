"""The baselines' Celery tasks, loaded into a worker with `celery -A config worker -I bench.baseline_tasks`.

- bench.get_url: one task, one blocking HTTP request, nothing recorded. Stock django-celery-beat
  (B1) and one-task-per-request (B2) fire it.
- bench.execute_one_run: the engine for a single run, i.e. Hourglass with one Celery task per run
  instead of one per batch, each run on an engine of its own (B2).
"""

from __future__ import annotations

import urllib.request

from celery import shared_task

TASK_NAME = "bench.get_url"
ONE_RUN_TASK = "bench.execute_one_run"


@shared_task(name=TASK_NAME)
def get_url(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the bench's loopback target
        response.read()
        return response.status


@shared_task(name=ONE_RUN_TASK)
def execute_one_run(run_id: str) -> None:
    """Hourglass's own engine, but one message (and one engine: loop, session, threads) per run."""
    from jobs.engine.execute import execute_runs

    execute_runs([run_id])
