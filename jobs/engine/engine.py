"""The engine: one per worker process, alive as long as the process, that sends each run on its slot.

A Celery task stages its batch (jobs.engine.staging: load, plan, claim) and hands the staged runs
to the engine, then returns; the pool process is free again at once. The engine keeps:
- one asyncio loop in a thread of its own, with one aiohttp session (pooled keep-alive
  connections, the SSRF-guarded resolver and aiohttp's DNS cache) for every run it ever sends;
- a timer per staged run (`loop.call_at`): at the run's slot it only sends;
- two database threads, each with its own connection: the writer (jobs.engine.results, batches
  of run changes every FLUSH_INTERVAL_S or FLUSH_ROWS) and the reader (pre-flight checks and the
  poll for cancellations). No coroutine touches the ORM.

Fairness: a run holds a slot of the process-wide limit, of its team's and of its team's target
host's while it is in flight. A team whose targets hang fills its own slots, never another team's.

Before the slot, a batch staged well ahead is checked once more (PREFLIGHT_S before it is due): a
run cancelled, deleted or handed to another engine meanwhile is dropped, a scheduled run whose job
was paused ends `stopped`, and a run whose job changed is planned again.

Shutdown (SIGTERM): staged runs are handed back (plain `pending`, published again), in-flight
runs get `grace_s` to finish; what is still running then is ended `crashed` and retried like a
run whose worker died, and the engine stops. Stopping is bounded by the grace.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from jobs.engine import http, preflight, staging, tracing
from jobs.engine.db import with_db_retry
from jobs.engine.definitions import JobCache
from jobs.engine.entries import Entry, Waiter
from jobs.engine.limits import Limits
from jobs.engine.runner import RunState, conclude, drive
from jobs.engine.ssrf import TargetPolicy
from jobs.engine.staging import Staged
from jobs.engine.warm import ConnectionWarmer
from jobs.engine.writer import FLUSH_INTERVAL_S, Writer

logger = logging.getLogger(__name__)
T = TypeVar("T")

POLL_INTERVAL_S = 0.5
PREFLIGHT_S = 0.3  # a batch staged at least this far ahead of its slot is checked again before it
LEASE_MARGIN_S = 2.0  # a staged run this close to its claim's end (at most half the claim's grace) is handed back
HAND_BACK_EVERY_S = 0.05  # runs handed back one by one are returned together, at most this long after the first


def default_engine_id() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


class Engine:
    """See the module docstring. Thread-safe entry points: start, submit, shutdown."""

    def __init__(
        self,
        *,
        engine_id: str | None = None,
        policy: TargetPolicy | None = None,
        concurrency: int | None = None,
        per_team: int | None = None,
        per_host: int | None = None,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        total = concurrency or int(getattr(settings, "HOURGLASS_EXECUTOR_CONCURRENCY", 500))
        self.engine_id = engine_id or default_engine_id()
        self.policy = policy or TargetPolicy.from_settings()
        self.limits = Limits(
            total=total,
            per_team=per_team or int(getattr(settings, "HOURGLASS_EXECUTOR_PER_TEAM", 0) or max(1, total // 2)),
            per_host=per_host or int(getattr(settings, "HOURGLASS_EXECUTOR_PER_HOST", 50)),
        )
        self.flush_interval_s = flush_interval_s
        self.poll_interval_s = poll_interval_s
        tracing.setup()  # before the session: its requests get client spans when tracing is on
        self.cache = JobCache()
        self._cache_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="hourglass-engine", daemon=True)
        self._writer_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hourglass-writer")
        self._reader_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hourglass-reader")
        self._ready = threading.Event()
        self._entries: dict[str, Entry] = {}
        self._writer = Writer(self, flush_interval_s)
        self._warmer: ConnectionWarmer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._session: aiohttp.ClientSession | None = None
        self._background: list[asyncio.Task[None]] = []
        self._returning: list[Entry] = []

    # --- thread-safe API ----------------------------------------------------------------------

    def start(self) -> Engine:
        self._thread.start()
        self._ready.wait(10)
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closing

    def stage(self, run_ids: list[str]) -> staging.StagedBatch:
        """Claim and plan these runs on the calling thread (its own database connection)."""
        with self._cache_lock:
            return with_db_retry(
                lambda: staging.stage(run_ids, engine_id=self.engine_id, now=timezone.now(), cache=self.cache)
            )

    def submit(self, run_ids: list[str], *, at_once: bool = False) -> concurrent.futures.Future[int]:
        """Stage these runs, then hand them to the loop, which sends each on its slot (`at_once`: now).

        The future resolves, with the number of runs settled, once each staged run has ended and
        its result is written (or it was dropped or handed back).
        """
        return self.hand(self.stage(run_ids), at_once=at_once)

    def hand(self, batch: staging.StagedBatch, *, at_once: bool = False) -> concurrent.futures.Future[int]:
        """Give staged runs to the loop (see submit)."""
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        if not batch.staged:
            future.set_result(0)
            return future
        self._loop.call_soon_threadsafe(self._accept, batch.staged, at_once, future)
        return future

    def shutdown(self, grace_s: float = 0.0) -> None:
        """Hand staged runs back, give in-flight runs `grace_s`, write everything, stop (bounded)."""
        if not self._thread.is_alive():
            return
        done = asyncio.run_coroutine_threadsafe(self._shutdown(grace_s), self._loop)
        try:
            done.result(grace_s + 30)
        except Exception:
            logger.exception("the engine did not shut down cleanly")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        for pool in (self._writer_pool, self._reader_pool):
            with contextlib.suppress(Exception):
                pool.submit(connections.close_all).result(5)
            pool.shutdown(wait=False, cancel_futures=True)

    # --- the loop -------------------------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._open())
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._close_session())
            self._loop.close()

    async def _open(self) -> None:
        self._session = http.guarded_session(self.policy, limit=self.limits.total)
        self._warmer = ConnectionWarmer(self._session, self.limits.per_host, PREFLIGHT_S)
        self._background = [
            asyncio.create_task(self._writer.run(), name="hourglass-writer"),
            asyncio.create_task(self._watch(), name="hourglass-watch"),
        ]

    async def _close_session(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()

    def _in_thread(self, pool: concurrent.futures.ThreadPoolExecutor, call: Callable[..., T], *args: Any) -> Any:
        def run() -> T:
            close_old_connections()  # a connection past CONN_MAX_AGE, or broken, is replaced
            return call(*args)

        return self._loop.run_in_executor(pool, run)

    def _accept(self, staged: list[Staged], at_once: bool, future: concurrent.futures.Future[int]) -> None:
        waiter = Waiter({item.plan.run_id for item in staged}, future)
        now = time.time()
        ahead: list[Entry] = []
        for item in staged:
            run_id = item.plan.run_id
            if run_id in self._entries or self._closing:
                waiter.settle(run_id)  # a duplicate message: the run is already ours
                if self._closing:
                    self._return_soon(Entry(item, waiter))
                continue
            entry = self._entries[run_id] = Entry(item, waiter)
            delay = 0.0 if at_once else max(0.0, item.plan.meta.due.timestamp() - now)
            entry.timer = self._loop.call_at(self._loop.time() + delay, self._launch, entry)
            if delay >= PREFLIGHT_S * 2:
                ahead.append(entry)
        if ahead:
            first = min(entry.staged.plan.meta.due.timestamp() for entry in ahead if entry.staged.plan.meta)
            self._loop.call_at(
                self._loop.time() + max(0.0, first - now - PREFLIGHT_S),
                lambda: self._spawn(self._preflight(ahead)),
            )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """A background task of the loop's, referenced until it ends (the loop keeps only weak references)."""
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _settle(self, entry: Entry) -> None:
        if self._entries.get(entry.run_id) is entry:
            del self._entries[entry.run_id]
        if entry.timer is not None:
            entry.timer.cancel()
        entry.waiter.settle(entry.run_id)

    def _launch(self, entry: Entry) -> None:
        entry.timer = None
        if self._entries.get(entry.run_id) is not entry or entry.task is not None:
            return  # dropped meanwhile
        if self._claim_lapsing(entry):
            return
        meta = entry.staged.plan.meta
        self.limits.admit(meta.team_id, meta.origin, lambda: self._start(entry))

    def _claim_lapsing(self, entry: Entry) -> bool:
        """So late that the claim may lapse while the request is out: hand it back to another engine.

        Asked at the slot and again when the limits admit the run, which may be much later (the
        origin's slots all held by slow targets): the reaper releases a lapsed claim, and another
        engine would send the run a second time.
        """
        claim_ends = entry.staged.lease_expires_at.timestamp()
        if time.time() <= claim_ends - min(LEASE_MARGIN_S, staging.staging_lease().total_seconds() / 2):
            return False
        logger.warning("run %s was due too long ago for its claim; handing it back", entry.run_id)
        self._return_soon(entry)
        return True

    def _start(self, entry: Entry) -> None:
        """The run has its slots: send it (unless it was dropped while it waited for them)."""
        meta = entry.staged.plan.meta
        if self._entries.get(entry.run_id) is not entry or self._closing:
            self.limits.release(meta.team_id, meta.origin)
            return
        if self._claim_lapsing(entry):
            self.limits.release(meta.team_id, meta.origin)
            return
        now = timezone.now()
        entry.started_at = now
        entry.lateness_ms = round((now - meta.due).total_seconds() * 1000)
        entry.lease_expires_at = now + timedelta(seconds=meta.lease_seconds)
        entry.state = RunState(entry.staged.plan)
        entry.task = self._loop.create_task(self._send(entry, entry.state))
        self._writer.sent(entry)

    async def _send(self, entry: Entry, state: RunState) -> None:
        plan = entry.staged.plan
        with tracing.run_span(plan) as span:
            try:
                if self._session is None:
                    raise RuntimeError("the engine's session is not open")
                await drive(state, self._session, self.policy)
            except asyncio.CancelledError:
                if not entry.abandoned:
                    raise
                return
            except Exception:
                ids = {"run_id": plan.run_id, "job_id": plan.job_id}
                logger.exception("run %s failed unexpectedly", plan.run_id, extra=ids)
            finally:
                self.limits.release(plan.meta.team_id, plan.meta.origin)
            if entry.abandoned:
                return
            outcome = conclude(state)
            if span is not None:
                outcome.span_context = tracing.end_run(span, outcome.end_reason)
        self._writer.queue(entry, outcome)

    def _abandon(self, entry: Entry) -> None:
        """The run is no longer ours (cancelled, deleted, reaped): stop it without writing."""
        entry.abandoned = True
        if entry.task is not None and not entry.task.done():
            entry.task.cancel()
        self._writer.forget(entry.run_id)
        self._settle(entry)

    async def _watch(self) -> None:
        """Progress of long runs, and cancellations asked for while they run."""
        while True:
            await asyncio.sleep(self.poll_interval_s)
            inflight = [e for e in self._entries.values() if e.task is not None and not e.task.done()]
            if not inflight:
                continue
            for entry in inflight:
                self._writer.progress(entry)
            try:
                cancelled: set[str] = await self._in_thread(self._reader_pool, preflight.cancelled, self.engine_id)
            except Exception:
                logger.warning("polling for cancelled runs failed", exc_info=True)
                continue
            for entry in inflight:
                if entry.run_id in cancelled and entry.state is not None and entry.task is not None:
                    entry.state.stopping = True
                    entry.task.cancel()

    async def _preflight(self, entries: list[Entry]) -> None:
        waiting = [e for e in entries if self._entries.get(e.run_id) is e and e.task is None]
        if not waiting:
            return
        warmer = self._warmer
        warming = self._loop.create_task(warmer.warm(e.staged.plan for e in waiting) if warmer else asyncio.sleep(0))
        try:
            verdict = await self._in_thread(self._reader_pool, self._check, [e.staged for e in waiting])
        except Exception:
            logger.warning("the pre-flight check of %d staged runs failed; sending them as staged", len(waiting))
            return
        finally:
            await warming
        for entry in waiting:
            if self._entries.get(entry.run_id) is not entry or entry.task is not None:
                continue
            fresh = verdict.replanned.get(entry.run_id)
            if entry.run_id in verdict.dropped:
                self._settle(entry)
            elif fresh is not None:
                entry.staged = fresh

    def _check(self, staged: list[Staged]) -> preflight.Verdict:
        with self._cache_lock:
            return preflight.check(staged, engine_id=self.engine_id, cache=self.cache)

    def _return_soon(self, entry: Entry) -> None:
        """Hand this run back with the others handed back within HAND_BACK_EVERY_S: one write for all.

        After an outage a backlog of late runs is handed back at once; one transaction (and one
        publish) each queued on the writer's thread held up the writes of the runs that were
        sent, until their claims lapsed and the reaper had another engine send them again.
        """
        self._settle(entry)
        self._returning.append(entry)
        if len(self._returning) == 1:
            self._loop.call_later(HAND_BACK_EVERY_S, lambda: self._spawn(self._hand_back([])))

    async def _hand_back(self, entries: Iterable[Entry]) -> None:
        """Return these runs (and those waiting in _return_soon) to plain `pending`, published again."""
        entries = [*self._returning, *entries]
        self._returning = []
        for entry in entries:
            self._settle(entry)
        ids = [entry.run_id for entry in entries]
        if ids:
            try:
                await self._in_thread(self._writer_pool, preflight.hand_back, ids, self.engine_id)
            except Exception:
                logger.warning("handing back %d staged runs failed; the reaper will", len(ids), exc_info=True)

    async def _shutdown(self, grace_s: float) -> None:
        self._closing = True
        staged = [e for e in self._entries.values() if e.task is None]
        await self._hand_back(staged)
        inflight = [e for e in self._entries.values() if e.task is not None and not e.task.done()]
        logger.info(
            "engine %s stopping: %d staged runs handed back, %d in flight (grace %.0f s)",
            self.engine_id,
            len(staged),
            len(inflight),
            grace_s,
        )
        if inflight:
            tasks = [e.task for e in inflight if e.task is not None]
            await asyncio.wait(tasks, timeout=max(0.0, grace_s))
        leftover = [e for e in inflight if e.task is not None and not e.task.done()]
        if leftover:
            logger.warning(
                "%d runs still in flight after the %.0f s grace; ending them crashed", len(leftover), grace_s
            )
            for entry in leftover:
                self._abandon(entry)
            ids = [entry.run_id for entry in leftover]
            await self._in_thread(self._writer_pool, preflight.crash, ids, self.engine_id)
        while self._writer.pending:
            await self._writer.flush()
        logger.info("engine %s stopped: every result written", self.engine_id)
