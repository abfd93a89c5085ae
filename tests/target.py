"""A real HTTP target for tests: an aiohttp server on 127.0.0.1, in a thread of its own.

Routes (any method):
  /ok                      200 {"ok": true}
  /status/{code}           that status, body {"status": code}
  /delay/{ms}              waits, then 200
  /hang                    never answers (until the server stops)
  /trickle?count=&interval_ms=   200, sends one byte every interval
  /bytes/{n}               streams n bytes of 'x' (works for gigabytes)
  /endless                 chunked, never ends
  /gzip-bomb?mb=           a small gzip body that inflates to `mb` MB
  /redirect?to=URL         302 to URL
  /loop                    302 to itself, for ever
  /location?to=TEXT        302 with TEXT as the Location header, unchecked
  /retry-after/{seconds}   503 with Retry-After
  /sequence/{key}?codes=500,500,200   the n-th call with this key gets the n-th code (last repeats)
Every request is recorded (method, path, query, headers, first 64 KiB of body, time, full URL).
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

_CHUNK = b"x" * 65536


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float
    url: str = ""  # the full URL as received (scheme, Host header, raw path and query)


@dataclass
class Target:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    _calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/ok") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._calls.clear()

    def received(self, path_prefix: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def wait_for(self, count: int, path_prefix: str = "", timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(path_prefix)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        return self.received(path_prefix)

    # --- handlers ---------------------------------------------------------------------
    async def _record(self, request: web.Request) -> None:
        body = await request.content.read(65536)
        with self._lock:
            self.requests.append(
                Received(
                    request.method,
                    request.path,
                    dict(request.query),
                    dict(request.headers),
                    body,
                    time.time(),
                    str(request.url),
                )
            )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        parts = request.path.strip("/").split("/")
        name, arg = parts[0], (parts[1] if len(parts) > 1 else "")
        if name == "ok":
            return web.json_response({"ok": True})
        if name == "status":
            return web.json_response({"status": int(arg)}, status=int(arg))
        if name == "delay":
            await asyncio.sleep(int(arg) / 1000)
            return web.json_response({"delayed_ms": int(arg)})
        if name == "hang":
            await asyncio.sleep(3600)
        if name == "trickle":
            return await self._trickle(request)
        if name == "bytes":
            return await self._stream(request, int(arg))
        if name == "endless":
            return await self._stream(request, None)
        if name == "gzip-bomb":
            raw = gzip.compress(b"\0" * (int(request.query.get("mb", "100")) * 1024 * 1024))
            return web.Response(body=raw, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})
        if name == "redirect":
            raise web.HTTPFound(request.query["to"])
        if name == "loop":
            raise web.HTTPFound("/loop")
        if name == "location":
            return web.Response(status=302, headers={"Location": request.query["to"]})
        if name == "retry-after":
            return web.Response(status=503, text="busy", headers={"Retry-After": arg})
        if name == "sequence":
            codes = [int(c) for c in request.query.get("codes", "200").split(",")]
            with self._lock:
                index = self._calls[arg]
                self._calls[arg] += 1
            code = codes[min(index, len(codes) - 1)]
            return web.json_response({"call": index + 1, "status": code}, status=code)
        return web.json_response({"error": "no such route"}, status=404)

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(int(request.query.get("count", "100"))):
            await response.write(b".")
            await asyncio.sleep(int(request.query.get("interval_ms", "500")) / 1000)
        await response.write_eof()
        return response

    async def _stream(self, request: web.Request, size: int | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        if size is not None:
            response.content_length = size
        await response.prepare(request)
        sent = 0
        while size is None or sent < size:
            piece = _CHUNK if size is None else _CHUNK[: min(len(_CHUNK), size - sent)]
            await response.write(piece)
            sent += len(piece)
        await response.write_eof()
        return response


def start_target() -> tuple[Target, Any]:
    """Start a target in a daemon thread; returns it and a stop() callable."""
    target = Target()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def boot() -> None:
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", target.handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, target.host, 0)
        await site.start()
        target.port = site._server.sockets[0].getsockname()[1]
        holder["runner"] = runner
        started.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(boot())
        loop.run_forever()

    thread = threading.Thread(target=serve, name="http-target", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the HTTP target did not start")

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    return target, stop


@pytest.fixture(scope="session")
def http_target() -> Any:
    target, stop = start_target()
    yield target
    stop()


@pytest.fixture
def target(http_target: Target) -> Target:
    """The session's HTTP target, with its request log cleared for this test."""
    http_target.clear()
    return http_target
