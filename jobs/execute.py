"""The executor: claim a batch of runs, drive them concurrently on aiohttp, write the results in bulk.

A Celery task calls `execute_runs` with run ids. The ORM stays on this (synchronous) side: the
batch is loaded and claimed first, the event loop gets plain `RunPlan`s, and its `RunOutcome`s are
written back in one transaction. The only database touches while the loop runs come from one
helper thread: a poll for runs whose cancellation was requested, and the steps' progress
(waiting → running → done/error/skipped), so a dashboard can show a running run advance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from history.models import Run, RunStep
from jobs import batch, results
from jobs.plans import RunOutcome, RunPlan
from jobs.runner import RunState, conclude, drive
from jobs.ssrf import ConnectionGuard, TargetPolicy

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class StepProgress:
    run_id: str
    name: str
    status: str
    started_at: datetime | None


PollCancelled = Callable[[list[str]], set[str]]
ReportProgress = Callable[[list[StepProgress]], None]


def cancelled_among(run_ids: list[str]) -> set[str]:
    """Which of these runs someone asked to cancel."""
    rows = Run.objects.filter(pk__in=run_ids, cancel_requested_at__isnull=False).values_list("pk", flat=True)
    return {str(pk) for pk in rows}


def save_progress(changes: list[StepProgress]) -> None:
    """Write steps' interim statuses in one executemany; the final results overwrite them when the batch ends.

    One UPDATE statement per step took 30% of a busy worker's samples (bench b2); this is one round trip.
    """
    meta = RunStep._meta
    connection = connections[router.db_for_write(RunStep)]
    quote = connection.ops.quote_name
    column = {name: quote(meta.get_field(name).column) for name in ("status", "started_at", "run", "name")}
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {column['status']} = %s, {column['started_at']} = %s "  # noqa: S608
        f"WHERE {column['run']} = %s AND {column['name']} = %s"
    )
    started_at, run_id = meta.get_field("started_at"), Run._meta.pk
    params = [
        [
            change.status,
            started_at.get_db_prep_save(change.started_at, connection),
            run_id.get_db_prep_value(change.run_id, connection),
            change.name,
        ]
        for change in changes
    ]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _progress_changes(states: dict[str, RunState], written: dict[tuple[str, str], str]) -> list[StepProgress]:
    changes: list[StepProgress] = []
    for run_id, state in states.items():
        for name, result in state.results.items():
            if written.setdefault((run_id, name), "waiting") != result.status:
                written[(run_id, name)] = result.status
                changes.append(StepProgress(run_id, name, result.status, result.started_at))
    return changes


async def _watch(
    tasks: dict[str, asyncio.Task[None]],
    states: dict[str, RunState],
    poll: PollCancelled | None,
    report: ReportProgress | None,
    executor: ThreadPoolExecutor | None,
    interval_s: float,
) -> None:
    loop = asyncio.get_running_loop()
    written: dict[tuple[str, str], str] = {}
    while True:
        # Sleep first: a run that ends within one interval (most do) never needs an interim write.
        await asyncio.sleep(interval_s)
        active = [run_id for run_id, task in tasks.items() if not task.done()]
        if not active:
            return
        # A busy database must not stop the batch: log, and the next tick tries again.
        changes = _progress_changes({run_id: states[run_id] for run_id in active}, written)
        if report is not None and changes:
            try:
                await loop.run_in_executor(executor, report, changes)
            except Exception:
                logger.warning("saving step progress failed", exc_info=True)
        cancelled: set[str] = set()
        if poll is not None:
            try:
                cancelled = await loop.run_in_executor(executor, poll, active)
            except Exception:
                logger.warning("polling for cancelled runs failed", exc_info=True)
        for run_id in cancelled:
            if run_id in tasks and not tasks[run_id].done():
                states[run_id].stopping = True
                tasks[run_id].cancel()


async def fire(
    plans: Sequence[RunPlan],
    *,
    policy: TargetPolicy,
    concurrency: int = 200,
    per_host: int = 50,
    poll_cancelled: PollCancelled | None = None,
    report_progress: ReportProgress | None = None,
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
        if poll_cancelled is not None or report_progress is not None:
            watcher = asyncio.create_task(
                _watch(tasks, states, poll_cancelled, report_progress, poll_executor, poll_interval_s)
            )
        try:
            for run_id, result in zip(
                tasks, await asyncio.gather(*tasks.values(), return_exceptions=True), strict=True
            ):
                if isinstance(result, BaseException):
                    ids = {"run_id": run_id, "job_id": states[run_id].plan.job_id}
                    logger.error("run %s failed unexpectedly", run_id, exc_info=result, extra=ids)
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
    return {run_id: conclude(state) for run_id, state in states.items()}


def run_batch(plans: list[RunPlan]) -> dict[str, RunOutcome]:
    """asyncio.run the batch; cancellations and progress go through a thread with its own connection.

    The thread is single, and drained before this returns, so no progress write can land after
    the final results.
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hourglass-cancel-poll")
    try:
        return asyncio.run(
            fire(
                plans,
                policy=TargetPolicy.from_settings(),
                concurrency=int(getattr(settings, "HOURGLASS_EXECUTOR_CONCURRENCY", 200)),
                per_host=int(getattr(settings, "HOURGLASS_EXECUTOR_PER_HOST", 50)),
                poll_cancelled=cancelled_among,
                report_progress=save_progress,
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
    runs = [item.run for item in claimed]
    history = batch.with_db_retry(lambda: batch.previous_failures(runs))
    first_attempt = batch.with_db_retry(lambda: batch.first_attempts(runs))
    outcomes = run_batch([batch.build_plan(item, history, first_attempt) for item in claimed])
    results.write_results(claimed, outcomes, timezone.now())
