"""The engine's result writer: what its runs did, coalesced and written off the hot path.

The loop tells the writer when a run went out (`sent`), when a long run's steps moved on
(`progress`) and when a run ended (`queue` with its outcome). A newer state of a run replaces an
older one not yet written. Every FLUSH_INTERVAL_S (or FLUSH_ROWS changes) one batch is written
by jobs.engine.results.write_batch on the engine's writer thread:
- a run still out after SENT_WRITE_DELAY_S is written `running`; one that ended sooner (most do)
  is written once, at its end;
- while runs launched in the last BURST_WINDOW_S are still out the writer waits, up to
  MAX_WRITE_DEFER_S: in a crowded second the requests go first (the writer's thread shares the
  interpreter lock with the loop that sends);
- a batch the database refuses stays queued and is written again after WRITE_RETRY_S.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import TYPE_CHECKING

from django.utils import timezone

from jobs.engine import results
from jobs.engine.entries import Entry
from jobs.engine.plans import RunOutcome
from jobs.engine.results import RunWrite, WriteResult, copy_steps

if TYPE_CHECKING:
    from jobs.engine.engine import Engine

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.05
FLUSH_ROWS = 500
WRITE_RETRY_S = 0.5
SENT_WRITE_DELAY_S = 0.05
BURST_WINDOW_S = 0.25
MAX_WRITE_DEFER_S = 1.0


class Writer:
    """Part of the engine: it reads the engine's entries, and settles or abandons them by what the
    database says."""

    def __init__(self, engine: Engine, flush_interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.engine = engine
        self.flush_interval_s = flush_interval_s
        self._writes: dict[str, RunWrite] = {}
        self._sent_unwritten: dict[str, Entry] = {}
        self._launches: collections.deque[tuple[float, Entry]] = collections.deque()
        self._write_wanted = asyncio.Event()
        # One flush at a time: a batch taken by one is not yet written, and the engine's stop
        # waits for it (stopping the loop then cancelled its write before the thread ran it).
        self._flushing = asyncio.Lock()

    @property
    def pending(self) -> bool:
        return bool(self._writes or self._sent_unwritten or self._flushing.locked())

    def sent(self, entry: Entry) -> None:
        """The run went out: written `running` if it is still out after SENT_WRITE_DELAY_S."""
        self._launches.append((self.engine._loop.time(), entry))
        self._sent_unwritten[entry.run_id] = entry
        self._write_wanted.set()

    def progress(self, entry: Entry) -> None:
        """A long run's steps moved on since its last write: write them."""
        state = entry.state
        if state is not None and entry.run_id not in self._writes:
            if tuple(result.status for result in state.results.values()) != entry.written_statuses:
                self.queue(entry)

    def forget(self, run_id: str) -> None:
        self._writes.pop(run_id, None)
        self._sent_unwritten.pop(run_id, None)

    def queue(self, entry: Entry, outcome: RunOutcome | None = None) -> None:
        state = entry.state
        if state is None:
            return  # not launched: nothing to write
        if outcome is not None:
            self._sent_unwritten.pop(entry.run_id, None)  # the end's write says it was sent
        entry.written_statuses = tuple(result.status for result in state.results.values())
        self._writes[entry.run_id] = RunWrite(
            plan=entry.staged.plan,
            started_at=entry.started_at,
            lateness_ms=entry.lateness_ms,
            lease_expires_at=entry.lease_expires_at,
            # Once it has ended the loop no longer touches its results: no copy needed.
            steps=state.results if outcome is not None else copy_steps(state.results),
            outcome=outcome,
            sent_written=entry.sent_written,
        )
        self._write_wanted.set()

    async def run(self) -> None:
        while True:
            await self._write_wanted.wait()
            if not self.engine._closing and len(self._writes) < FLUSH_ROWS:
                await asyncio.sleep(self.flush_interval_s)
            deferred_until = self.engine._loop.time() + MAX_WRITE_DEFER_S
            while not self.engine._closing and self.bursting() and self.engine._loop.time() < deferred_until:
                await asyncio.sleep(self.flush_interval_s / 5)
            self._write_wanted.clear()
            await self.flush()

    def bursting(self) -> bool:
        """Whether runs launched in the last BURST_WINDOW_S are still out (the writer then waits)."""
        horizon = self.engine._loop.time() - BURST_WINDOW_S
        launches = self._launches
        while launches and (launches[0][0] < horizon or launches[0][1].task is None or launches[0][1].task.done()):
            launches.popleft()
        return bool(launches)

    def _queue_sent(self) -> float | None:
        """Queue the `running` write of runs out for SENT_WRITE_DELAY_S; when the next is due, if any.

        A run that ends sooner (most do) is written once, at its end.
        """
        now = time.time()
        soonest = None
        for run_id, entry in list(self._sent_unwritten.items()):
            if entry.started_at is None:
                continue
            due = entry.started_at.timestamp() + SENT_WRITE_DELAY_S
            if due <= now or self.engine._closing:
                del self._sent_unwritten[run_id]
                self.queue(entry)
            else:
                soonest = due if soonest is None else min(soonest, due)
        return soonest

    async def flush(self) -> None:
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        soonest = self._queue_sent()
        if soonest is not None:
            loop = self.engine._loop
            loop.call_at(loop.time() + max(0.0, soonest - time.time()), self._write_wanted.set)
        if not self._writes:
            return
        batch = list(self._writes.values())
        self._writes.clear()
        try:
            outcome: WriteResult = await self.engine._in_thread(
                self.engine._writer_pool, results.write_batch, batch, self.engine.engine_id, timezone.now()
            )
        except Exception:
            logger.warning("writing %d run results failed; retrying", len(batch), exc_info=True)
            for write in batch:
                self._writes.setdefault(write.plan.run_id, write)  # a newer state wins
            await asyncio.sleep(WRITE_RETRY_S)
            self._write_wanted.set()
            return
        for write in batch:
            entry = self.engine._entries.get(write.plan.run_id)
            if write.plan.run_id in outcome.gone:
                if entry is not None:
                    self.engine._abandon(entry)
                continue
            if write.outcome is not None:
                if entry is not None:
                    self.engine._settle(entry)
            elif entry is not None and write.plan.run_id in outcome.written:
                entry.sent_written = True
