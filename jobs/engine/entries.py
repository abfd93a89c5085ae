"""The engine's bookkeeping of one staged run (Entry), and of a batch someone waits for (Waiter)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass
from datetime import datetime

from jobs.engine.runner import RunState
from jobs.engine.staging import Staged


@dataclass
class Waiter:
    """Resolves `future` once every run in `remaining` is settled (written, dropped or handed back)."""

    remaining: set[str]
    future: concurrent.futures.Future[int]
    count: int = 0

    def settle(self, run_id: str) -> None:
        if run_id in self.remaining:
            self.remaining.discard(run_id)
            self.count += 1
            if not self.remaining and not self.future.done():
                self.future.set_result(self.count)


@dataclass
class Entry:
    staged: Staged
    waiter: Waiter
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None
    state: RunState | None = None
    started_at: datetime | None = None
    lateness_ms: int | None = None
    lease_expires_at: datetime | None = None
    sent_written: bool = False
    abandoned: bool = False  # gone from under us: no further writes
    written_statuses: tuple[str, ...] = ()

    @property
    def run_id(self) -> str:
        return self.staged.plan.run_id
