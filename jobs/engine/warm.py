"""Connections opened before the slot: DNS, TCP and TLS happen ahead of time and the request leaves on its slot.

The engine calls this at a batch's pre-flight check. At most `per_host` connections per origin
are kept warm (what the limits let one process have in flight there), whichever batches the runs
came in. Bounded by the connect timeout; a failure here only means the send connects itself, and
reports whatever is wrong. The SSRF guard applies: the connector's resolver and socket factory
are the session's.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterable

import aiohttp
from yarl import URL

from jobs.engine.plans import RunPlan

WARM_FOR_S = 5.0  # connections opened for a slot count as warm this long (aiohttp keeps idle ones 15 s)


class ConnectionWarmer:
    def __init__(self, session: aiohttp.ClientSession, per_host: int, connect_timeout_s: float) -> None:
        self.session = session
        self.per_host = per_host
        self.timeout = aiohttp.ClientTimeout(connect=connect_timeout_s)
        self._warm: dict[URL, tuple[float, int]] = {}  # origin -> (when, connections opened for it)

    async def warm(self, plans: Iterable[RunPlan]) -> None:
        wanted: collections.Counter[URL] = collections.Counter()
        for plan in plans:
            main = next((s.request for s in plan.steps if s.is_main and s.request), None)
            if main is not None and main.target is not None and main.target.absolute:
                wanted[main.target.origin()] += 1
        loop = asyncio.get_running_loop()
        now = loop.time()
        opening = []
        for origin, count in wanted.items():
            warmed_at, warm = self._warm.get(origin, (0.0, 0))
            if now - warmed_at > WARM_FOR_S:
                warm = 0  # idle connections may have been closed since
            more = min(count, self.per_host) - warm
            if more > 0:
                self._warm[origin] = (now, warm + more)
                opening += [self._open(origin, loop) for _ in range(more)]
        for connection in await asyncio.gather(*opening, return_exceptions=True):
            if isinstance(connection, aiohttp.connector.Connection):
                connection.release()  # into the pool, where the send finds it

    async def _open(self, origin: URL, loop: asyncio.AbstractEventLoop) -> aiohttp.connector.Connection:
        request = aiohttp.ClientRequest("GET", origin, loop=loop, session=self.session)
        return await self.session.connector.connect(request, [], self.timeout)  # type: ignore[union-attr]  # a session made by the engine always has a connector
