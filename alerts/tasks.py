"""Celery tasks for alerts: send deliveries, and sweep for due retries and lapsed claims.

`hourglass.deliver_alerts` goes to the executor workers' queue (`celery`) and returns at once: the
sending happens in a background thread of the worker process (one per process, its own database
connection), so a pool process is never held by a slow channel. The row is the truth: if the
process dies mid-send the claim's lease lapses and `hourglass.alerts_sweep` (the clock, every 10 s)
publishes the delivery again, as it does for every retry that falls due.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from celery import Task, current_app, shared_task
from django.db import connections, transaction
from django.utils import timezone

from alerts import delivery

logger = logging.getLogger(__name__)

DELIVER_TASK = "hourglass.deliver_alerts"
SWEEP_TASK = "hourglass.alerts_sweep"
BATCH = 50

# publisher(delivery_ids); tests replace it to keep messages out of the broker.
Publisher = Callable[[list[str]], None]


def celery_publisher(delivery_ids: list[str]) -> None:
    current_app.send_task(DELIVER_TASK, args=[delivery_ids])


publisher: Publisher = celery_publisher


def publish_deliveries(delivery_ids: list[str]) -> None:
    """Publish when the surrounding transaction commits; a broker error is logged, the sweep publishes again."""
    for start in range(0, len(delivery_ids), BATCH):
        batch = delivery_ids[start : start + BATCH]

        def publish_batch(batch: list[str] = batch) -> None:
            publisher(batch)

        transaction.on_commit(publish_batch, robust=True)


_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool, _pool_pid = ThreadPoolExecutor(max_workers=2, thread_name_prefix="alerts"), os.getpid()
        return _pool


def _deliver_in_background(delivery_ids: list[str]) -> None:
    try:
        delivery.deliver(delivery_ids)
    except Exception:
        logger.exception("alert deliveries failed to run; the sweep tries again")
    finally:
        connections.close_all()  # this thread's connections only


def _valid(delivery_ids: list[str]) -> list[str]:
    valid = []
    for value in delivery_ids:
        try:
            valid.append(str(uuid.UUID(str(value))))
        except ValueError:
            logger.error("ignoring a malformed delivery id %r", value)
    return valid


@shared_task(name=DELIVER_TASK, bind=True)
def deliver_alerts(self: Task, delivery_ids: list[str]) -> None:
    ids = _valid(delivery_ids)
    if self.request.is_eager:
        delivery.deliver(ids)
    else:
        _background().submit(_deliver_in_background, ids)


@shared_task(name=SWEEP_TASK)
def alerts_sweep() -> int:
    due = delivery.due_deliveries(timezone.now())
    for start in range(0, len(due), BATCH):
        publisher(due[start : start + BATCH])
    return len(due)
