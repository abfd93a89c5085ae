"""Fairness in the engine: how many runs one process, one team and one team's target origin may have out.

A run takes a slot of each when it is admitted and gives them back when it ends. A run that does
not fit waits in its (team, origin) queue; when slots free up, the queues are served in turn. So
a team whose targets hang fills its own slots, never another team's: its runs wait in its own
queue, the others' go out.

Admission is plain counting in the event loop's thread, O(1) per run. (With asyncio semaphores,
every acquire scans all the waiters; 8,000 runs due in the same second took seconds just to line
up.)
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Key = tuple[Any, str]  # (team id, origin)


@dataclass
class Limits:
    total: int
    per_team: int
    per_host: int
    in_use: int = 0
    _team: collections.Counter[Any] = field(default_factory=collections.Counter)
    _host: collections.Counter[Key] = field(default_factory=collections.Counter)
    _queues: dict[Key, collections.deque[Callable[[], None]]] = field(default_factory=dict)
    _turns: collections.deque[Key] = field(default_factory=collections.deque)  # keys with runs waiting

    def admit(self, team_id: Any, origin: str, start: Callable[[], None]) -> None:
        """Call `start` now if the run fits, else once slots free up (in its queue's turn)."""
        key = (team_id, origin)
        if key not in self._queues and self._fits(key):
            self._take(key)
            start()
            return
        if key not in self._queues:
            self._queues[key] = collections.deque()
            self._turns.append(key)
        self._queues[key].append(start)

    def release(self, team_id: Any, origin: str) -> None:
        key = (team_id, origin)
        self.in_use -= 1
        self._team[team_id] -= 1
        if not self._team[team_id]:
            del self._team[team_id]
        self._host[key] -= 1
        if not self._host[key]:
            del self._host[key]
        self._serve()

    def _fits(self, key: Key) -> bool:
        return self.in_use < self.total and self._team[key[0]] < self.per_team and self._host[key] < self.per_host

    def _take(self, key: Key) -> None:
        self.in_use += 1
        self._team[key[0]] += 1
        self._host[key] += 1

    def _serve(self) -> None:
        """Admit waiting runs, one queue after another, until none fits (a full turn admits nothing)."""
        misses = 0
        while self._turns and misses < len(self._turns) and self.in_use < self.total:
            key = self._turns[0]
            if not self._fits(key):
                self._turns.rotate(-1)
                misses += 1
                continue
            queue = self._queues[key]
            start = queue.popleft()
            self._take(key)
            if queue:
                self._turns.rotate(-1)
            else:
                del self._queues[key]
                self._turns.popleft()
            misses = 0
            start()
