"""The soak's HTTP target: logs every request with its `Idempotency-Key` and the slot it claims.

`python -m bench.chaos.target --log PATH` prints `listening <port> <port>` once it accepts connections.
Every request is appended to PATH as one JSON line, on arrival, before it is answered:
`{"at": <epoch s>, "key": <Idempotency-Key>, "path": "/ok/<job>", "slot": "<scheduled_for>",
"attempt": "<n>"}` (slot and attempt come from the job's URL, `?slot={{ scheduled_for }}&attempt=
{{ attempt }}`). Routes, by the first path segment:
  /ok       200 at once
  /slow     200 after `ms` milliseconds (query `ms`, default 1500)
  /flaky    503 for attempt 1, 200 for later attempts (a retry that succeeds)
  /fail     500 always (failed after its retries)
  /hang     never answers (the run ends in its timeout)
A bare asyncio protocol, as bench/responder.py: it shares two cores with what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import IO
from urllib.parse import parse_qsl

_STATUS = {200: b"200 OK", 500: b"500 Internal Server Error", 503: b"503 Service Unavailable"}


class Target(asyncio.Protocol):
    log: IO[str]

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio hands a stream protocol its Transport, typed as the BaseTransport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, rest = self.buffer[:end], self.buffer[end + 4 :]
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            if len(parts) < 3 or self.transport is None:
                if self.transport is not None:
                    self.transport.close()
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0") or 0)
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            self.handle(parts[1].decode("latin-1"), headers)

    def handle(self, target: str, headers: dict[bytes, bytes]) -> None:
        path, _, query = target.partition("?")
        params = dict(parse_qsl(query))
        entry = {
            "at": time.time(),
            "key": headers.get(b"idempotency-key", b"").decode("latin-1"),
            "path": path,
            "slot": params.get("slot", ""),
            "attempt": params.get("attempt", ""),
        }
        Target.log.write(json.dumps(entry) + "\n")
        route = path.split("/")[1] if path.count("/") else ""
        if route == "hang":
            return
        if route == "slow":
            delay = int(params.get("ms", "1500")) / 1000
            asyncio.get_running_loop().call_later(delay, self.reply, 200)
            return
        status = {"fail": 500, "flaky": 503 if params.get("attempt") == "1" else 200}.get(route, 200)
        self.reply(status)

    def reply(self, status: int) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(
            b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok" % _STATUS.get(status, b"200 OK")
        )


async def serve(host: str, port: int, log_path: str) -> None:
    """Two listeners, two origins: jobs whose targets hang or answer slowly use the second, so the
    engine's per-origin limit holds them apart from the well-behaved ones, as separate hosts would."""
    Target.log = open(log_path, "a", buffering=1)  # open for the process's life; line-buffered
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(Target, host, port, backlog=4096, reuse_address=True)]
    servers.append(await loop.create_server(Target, host, 0, backlog=4096, reuse_address=True))
    print("listening " + " ".join(str(server.sockets[0].getsockname()[1]) for server in servers), flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port, args.log))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
