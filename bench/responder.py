"""The benchmarks' HTTP target: a small asyncio server, run in a process of its own.

`python -m bench.responder --port 0` prints `listening <port>` once it accepts connections.
Routes (any method, HTTP/1.1 keep-alive unless the client sends `Connection: close`):
  /r/<key>        200 "ok"; records (key, arrival time) — the benchmarks' lateness clock
  /bytes/<n>      streams n bytes of 'x', honouring TCP back-pressure (works for gigabytes)
  /hang           never answers (the connection stays open until the client gives up)
  /__receipts     the recorded receipts as JSON, then forgets them
  anything else   200 "ok", not recorded (what wrk hammers)
It is a bare protocol on purpose: aiohttp's server would cost the target several times more
CPU per request, and the target shares two cores with everything it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
_CHUNK = b"x" * 65536


class Responder(asyncio.Protocol):
    receipts: list[tuple[str, float]] = []
    transport: asyncio.Transport  # set by connection_made, before any data arrives

    def __init__(self) -> None:
        self.buffer = b""
        self.writable = asyncio.Event()
        self.writable.set()
        self.closed = False
        self.streaming = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio hands a stream protocol its Transport, typed as the BaseTransport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while not self.streaming:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, rest = self.buffer[:end], self.buffer[end + 4 :]
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            if len(parts) < 3:
                self.transport.close()
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip().lower()
            length = int(headers.get(b"content-length", b"0") or 0)
            if len(rest) < length:
                return  # wait for the body
            self.buffer = rest[length:]
            close = headers.get(b"connection") == b"close" or parts[2] == b"HTTP/1.0"
            self.handle(parts[1].decode("latin-1"), close)
            if close or self.closed:
                return

    def handle(self, path: str, close: bool) -> None:
        path = path.split("?", 1)[0]
        if path.startswith("/r/"):
            self.receipts.append((path[3:], time.time()))
        elif path.startswith("/hang"):
            return
        elif path.startswith("/bytes/"):
            self.streaming = True
            asyncio.get_running_loop().create_task(self.stream(int(path[7:]), close))
            return
        elif path == "/__receipts":
            body = json.dumps(Responder.receipts).encode()
            Responder.receipts = []
            self.reply(body, close, content_type=b"application/json")
            return
        self.transport.write(_OK + (b"Connection: close\r\n\r\nok" if close else b"\r\nok"))
        if close:
            self.transport.close()

    def reply(self, body: bytes, close: bool, content_type: bytes = b"text/plain") -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (content_type, len(body))
        self.transport.write(head + (b"Connection: close\r\n\r\n" if close else b"\r\n") + body)
        if close:
            self.transport.close()

    async def stream(self, size: int, close: bool) -> None:
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % size)
        sent = 0
        while sent < size and not self.closed:
            await self.writable.wait()
            if self.closed:
                return
            piece = _CHUNK[: min(len(_CHUNK), size - sent)]
            self.transport.write(piece)
            sent += len(piece)
        self.streaming = False
        if close and not self.closed:
            self.transport.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Responder, host, port, backlog=4096, reuse_address=True)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
