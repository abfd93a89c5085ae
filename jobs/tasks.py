"""Celery tasks: thin wrappers that take ids, never objects, and call one function each.

Every task is idempotent, which is what makes acks_late + reject_on_worker_lost safe.
"""

from __future__ import annotations

from celery import Task, shared_task
from django.utils import timezone

from history.retention import prune_all
from jobs.engine import dispatch as dispatcher
from jobs.engine import execute, heartbeat, reaper
from jobs.engine.publish import EXECUTE_TASK


@shared_task(name="hourglass.dispatch")
def dispatch() -> int:
    created = dispatcher.dispatch()
    heartbeat.record_dispatch(timezone.now())  # what /healthz reads as beat's last dispatch
    return created


@shared_task(name="hourglass.reap")
def reap() -> dict[str, int]:
    return reaper.reap()


@shared_task(name="hourglass.prune")
def prune() -> int:
    return prune_all()


@shared_task(name=EXECUTE_TASK, bind=True)
def execute_runs(self: Task, run_ids: list[str]) -> None:
    """Stage the batch and hand it to this process's engine; in eager mode, run it to the end."""
    if self.request.is_eager:
        execute.execute_runs(run_ids)
    else:
        execute.hand_off(run_ids)
