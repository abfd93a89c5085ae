"""The executor: claim a batch of runs, drive them concurrently on aiohttp, write the results in bulk.

A Celery task calls `execute_runs` with run ids. The ORM stays on this (synchronous) side: the
batch is loaded and claimed first, the event loop gets plain `RunPlan`s, and its `RunOutcome`s are
written back in one transaction. The only database touch while the loop runs is a poll, from a
helper thread, for runs whose cancellation was requested.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from django.conf import settings
from django.db import connections
from django.utils import timezone

from history.models import Run
from jobs import batch, results
from jobs.plans import RunOutcome, RunPlan
from jobs.runner import RunState, conclude, drive
from jobs.ssrf import ConnectionGuard, TargetPolicy

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5
PollCancelled = Callable[[list[str]], set[str]]


def cancelled_among(run_ids: list[str]) -> set[str]:
    """Which of these runs someone asked to cancel."""
    rows = Run.objects.filter(pk__in=run_ids, cancel_requested_at__isnull=False).values_list("pk", flat=True)
    return {str(pk) for pk in rows}


async def _watch_cancellations(
    tasks: dict[str, asyncio.Task[None]],
    states: dict[str, RunState],
    poll: PollCancelled,
    executor: ThreadPoolExecutor | None,
    interval_s: float,
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        active = [run_id for run_id, task in tasks.items() if not task.done()]
        if not active:
            return
        try:
            cancelled = await loop.run_in_executor(executor, poll, active)
        except Exception:  # a busy database must not stop the batch; the next poll tries again
            logger.warning("polling for cancelled runs failed", exc_info=True)
            cancelled = set()
        for run_id in cancelled:
            if run_id in tasks and not tasks[run_id].done():
                states[run_id].stopping = True
                tasks[run_id].cancel()
        await asyncio.sleep(interval_s)


async def fire(
    plans: Sequence[RunPlan],
    *,
    policy: TargetPolicy,
    concurrency: int = 200,
    per_host: int = 50,
    poll_cancelled: PollCancelled | None = None,
    poll_executor: ThreadPoolExecutor | None = None,
    poll_interval_s: float = CANCEL_POLL_SECONDS,
) -> dict[str, RunOutcome]:
    """Drive every run of the batch on one session; returns each run's outcome by id."""
    guard = ConnectionGuard(policy)
    connector = aiohttp.TCPConnector(
        limit=concurrency,
        limit_per_host=per_host,
        resolver=guard.resolver,
        socket_factory=guard.socket_factory,
    )
    states = {plan.run_id: RunState(plan) for plan in plans}
    async with aiohttp.ClientSession(
        connector=connector,
        # Each step enforces its own deadline; a shared cookie jar would leak cookies between teams.
        timeout=aiohttp.ClientTimeout(total=None),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    ) as session:
        tasks = {run_id: asyncio.create_task(drive(state, session, policy)) for run_id, state in states.items()}
        watcher = None
        if poll_cancelled is not None:
            watcher = asyncio.create_task(
                _watch_cancellations(tasks, states, poll_cancelled, poll_executor, poll_interval_s)
            )
        try:
            for run_id, result in zip(
                tasks, await asyncio.gather(*tasks.values(), return_exceptions=True), strict=True
            ):
                if isinstance(result, BaseException):
                    logger.error("run %s failed unexpectedly", run_id, exc_info=result)
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
    return {run_id: conclude(state) for run_id, state in states.items()}


def run_batch(plans: list[RunPlan]) -> dict[str, RunOutcome]:
    """asyncio.run the batch, polling for cancellations from a thread with its own connection."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hourglass-cancel-poll")
    try:
        return asyncio.run(
            fire(
                plans,
                policy=TargetPolicy.from_settings(),
                concurrency=int(getattr(settings, "HOURGLASS_EXECUTOR_CONCURRENCY", 200)),
                per_host=int(getattr(settings, "HOURGLASS_EXECUTOR_PER_HOST", 50)),
                poll_cancelled=cancelled_among,
                poll_executor=executor,
            )
        )
    finally:
        # The poll thread opened its own connection; close it there before the thread goes.
        executor.submit(connections.close_all).result()
        executor.shutdown()


def _valid_ids(run_ids: list[str]) -> list[str]:
    ids: dict[str, None] = {}
    for run_id in run_ids:
        try:
            ids[str(uuid.UUID(str(run_id)))] = None
        except ValueError:
            logger.error("ignoring a malformed run id %r", run_id)
    return list(ids)


def execute_runs(run_ids: list[str]) -> None:
    """Execute a batch of pending runs (at most ~100 ids); runs not pending are left alone."""
    ids = _valid_ids(run_ids)
    if not ids:
        return
    runs = batch.with_db_retry(lambda: batch.load_pending(ids))
    if not runs:
        return
    worker = socket.gethostname()
    claimed = batch.with_db_retry(lambda: batch.claim(runs, timezone.now(), worker))
    if not claimed:
        return
    history = batch.with_db_retry(lambda: batch.previous_failures([item.run for item in claimed]))
    outcomes = run_batch([batch.build_plan(item, history) for item in claimed])
    results.write_results(claimed, outcomes, timezone.now())
