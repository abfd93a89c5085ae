"""Running runs: hand a batch to this process's engine, or run one batch to the end (tests, eager mode).

- `hand_off(run_ids)` is what the `hourglass.execute_runs` task does in a worker: the batch is
  staged on the task's thread and handed to the process's long-lived engine
  (jobs.engine.engine), and the task returns. The engine is started on the first batch and shut
  down when the worker process stops (Celery's worker_process_shutdown, or worker_shutdown for a
  worker without a pool), handing back what it has not sent.
- `execute_runs(run_ids)` runs one batch now, whatever the runs' slots, and returns once every
  result is written, on an engine of its own. Eager Celery and the tests use it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import cast

import billiard
from celery import signals
from django.conf import settings
from django.db import transaction

from jobs.engine.engine import Engine

logger = logging.getLogger(__name__)

SYNC_MARGIN_S = 30.0
KILL_MARGIN_S = 10.0
EXIT_MARGIN_S = 5.0
_lock = threading.Lock()
_engine: Engine | None = None
_engine_pid: int | None = None


def _valid_ids(run_ids: list[str]) -> list[str]:
    ids: dict[str, None] = {}
    for run_id in run_ids:
        try:
            ids[str(uuid.UUID(str(run_id)))] = None
        except ValueError:
            logger.error("ignoring a malformed run id %r", run_id)
    return list(ids)


def shutdown_grace() -> float:
    return float(getattr(settings, "HOURGLASS_SHUTDOWN_GRACE_SECONDS", 25))


def process_engine() -> Engine:
    """This process's engine, started on first use (and again in a forked child)."""
    global _engine, _engine_pid
    with _lock:
        if _engine is None or _engine_pid != os.getpid() or not _engine.alive:
            _engine, _engine_pid = Engine().start(), os.getpid()
        return _engine


def hand_off(run_ids: list[str]) -> None:
    """Stage these runs and leave them to this process's engine, which sends each on its slot."""
    ids = _valid_ids(run_ids)
    if ids:
        process_engine().submit(ids)


def shutdown_process_engine(grace_s: float | None = None) -> None:
    global _engine
    with _lock:
        engine, _engine = _engine, None
    if engine is not None and _engine_pid == os.getpid():
        engine.shutdown(shutdown_grace() if grace_s is None else grace_s)


@contextlib.contextmanager
def engine_for_one_batch() -> Iterator[Engine]:
    engine = Engine().start()
    try:
        yield engine
    finally:
        engine.shutdown(0)


def execute_runs(run_ids: list[str]) -> None:
    """Execute a batch of pending runs now and wait for their results; runs not pending are left alone."""
    ids = _valid_ids(run_ids)
    if not ids:
        return
    if transaction.get_connection().in_atomic_block:
        # The engine writes on threads of their own, which cannot see this transaction's rows.
        raise RuntimeError("execute_runs needs committed runs: call it outside a transaction")
    with engine_for_one_batch() as engine:
        batch = engine.stage(ids)
        # Bounded, so a bug (or a database that stays locked) cannot hang the caller for good.
        longest = max((item.plan.meta.lease_seconds for item in batch.staged), default=0.0)
        engine.hand(batch, at_once=True).result(timeout=longest + SYNC_MARGIN_S)


@signals.worker_process_shutdown.connect
def _on_process_shutdown(**_: object) -> None:
    shutdown_process_engine()


@signals.worker_shutdown.connect
def _on_worker_shutdown(**_: object) -> None:
    shutdown_process_engine()  # a solo worker's own engine; a prefork parent has none


@signals.worker_shutting_down.connect
def _bound_the_shutdown(**_: object) -> None:
    """In the worker's main process: pool processes still alive well past the grace are killed.

    Each pool process stops its engine within the grace; one that cannot (stuck in a C call
    that never yields) would otherwise keep the worker in its warm shutdown for good. Its runs
    are recovered like a killed worker's: the reaper crashes and retries them. Once stragglers
    were killed, the main process itself exits within EXIT_MARGIN_S (status 1).
    """

    def kill_stragglers() -> None:
        time.sleep(shutdown_grace() + KILL_MARGIN_S)
        stragglers = billiard.active_children()
        for child in stragglers:
            logger.warning("pool process %s did not stop within the grace; killing it", child.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(cast(int, child.pid), signal.SIGKILL)  # an active child has been started
        if not stragglers:
            return
        # A pool process killed while it held the pool's queue lock leaves billiard's exit handler
        # waiting for that lock for good: past a last margin, this process ends itself.
        time.sleep(EXIT_MARGIN_S)
        logger.error("still stopping %.0f s after its pool processes were killed; exiting", EXIT_MARGIN_S)
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        os._exit(1)

    threading.Thread(target=kill_stragglers, name="hourglass-shutdown-bound", daemon=True).start()
