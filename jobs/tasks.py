"""Celery tasks: thin wrappers that take ids, never objects, and call one function each.

Every task is idempotent, which is what makes acks_late + reject_on_worker_lost safe.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from history.retention import prune_all
from jobs import dispatch as dispatcher
from jobs import execute, heartbeat, reaper


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


@shared_task(name="hourglass.execute_runs")
def execute_runs(run_ids: list[str]) -> None:
    execute.execute_runs(run_ids)
