"""A TCP proxy that cuts, resets or slows links on command: the soak's network partitions.

`python -m bench.chaos.proxy --route pg=127.0.0.1:5433 --route broker=127.0.0.1:6380` listens on
a free port per route and prints `route <name> <port>` for each, then `control <port>`. The
control port takes one line per connection, `<route> <mode> [seconds per chunk]`, and answers
`ok`:
  pass        bytes flow both ways (the default)
  blackhole   nothing flows: live connections stall (their bytes stay in the kernel's buffers,
              as packets dropped on a cut link would never be acknowledged), new connections
              are accepted and left hanging without reaching the upstream
  reset       every live connection is reset (RST), and so is every new one
  delay <s>   each chunk, either way, waits <s> seconds before it is forwarded
Going back to `pass` lets the stalled connections go on where they were.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import socket
import struct
from dataclasses import dataclass, field


@dataclass
class Route:
    name: str
    upstream: tuple[str, int]
    mode: str = "pass"
    delay: float = 0.0
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = field(default_factory=set)

    def set(self, mode: str, delay: float = 0.0) -> None:
        self.mode, self.delay = mode, delay
        if mode == "blackhole":
            self.flowing.clear()
        else:
            self.flowing.set()
        if mode == "reset":
            for link in list(self.links):
                for writer in link:
                    if writer is not None:
                        reset(writer)
            self.links.clear()

    async def gate(self) -> None:
        await self.flowing.wait()
        if self.mode == "delay" and self.delay > 0:
            await asyncio.sleep(self.delay)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN, as a peer that lost the connection would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def pump(route: Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            await route.gate()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        if route.mode == "reset":
            writer.transport.abort()
        else:
            writer.close()


async def handle(route: Route, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
    if route.mode == "reset":
        reset(client_writer)
        return
    link: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (client_writer, None)
    route.links.add(link)
    try:
        await route.flowing.wait()  # a black-holed link never reaches the upstream
        if route.mode == "reset" or link not in route.links:
            reset(client_writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*route.upstream)
        except OSError:
            reset(client_writer)  # as the upstream's own refusal would look
            return
        route.links.discard(link)
        link = (client_writer, upstream_writer)
        route.links.add(link)
        await asyncio.gather(
            pump(route, client_reader, upstream_writer),
            pump(route, upstream_reader, client_writer),
        )
    finally:
        route.links.discard(link)


async def control(routes: dict[str, Route], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    words = (await reader.readline()).decode().split()
    try:
        route = routes[words[0]]
        route.set(words[1], float(words[2]) if len(words) > 2 else 0.0)
        writer.write(b"ok\n")
    except (IndexError, KeyError, ValueError):
        writer.write(b"error\n")
    await writer.drain()
    writer.close()


async def serve(specs: list[str]) -> None:
    routes: dict[str, Route] = {}
    servers = []
    for spec in specs:
        name, _, address = spec.partition("=")
        host, _, port = address.rpartition(":")
        route = Route(name, (host, int(port)))
        route.flowing.set()
        routes[name] = route
        server = await asyncio.start_server(functools.partial(handle, route), "127.0.0.1", 0)
        servers.append(server)
        print(f"route {name} {server.sockets[0].getsockname()[1]}", flush=True)
    server = await asyncio.start_server(lambda r, w: control(routes, r, w), "127.0.0.1", 0)
    print(f"control {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in [*servers, server]))


def command(port: int, line: str, timeout: float = 5.0) -> None:
    """Send one control line (from another process) and wait for its `ok`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(line.encode() + b"\n")
        answer = sock.recv(16)
    if not answer.startswith(b"ok"):
        raise RuntimeError(f"proxy refused {line!r}: {answer!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--route", action="append", default=[], help="name=host:port of the upstream")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.route))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
