"""The brokers: kombu's filesystem transport with files that appear whole, and Redis that survives its own loss.

Stock kombu writes a message straight into its final file name, so a consumer listing the
folder can move and read it half-written; the worker then dies on a JSONDecodeError. It
also creates an exchange's binding table by truncating the file before it takes the lock,
so a publisher can read an empty table (JSONDecodeError again), and two processes binding
at once can each write a table without the other's queue. Here every file is written under
a name no reader looks at and renamed into place, which is atomic on one filesystem, and
bindings are read-modify-written under a lock file of their own.

Within one process, kombu keeps the filesystem transport's bindings in a process-global
state and marks a binding as declared before it writes the table file. A second thread
(a gunicorn thread, the clock worker's publisher) then skips the bind, reads a table
without its queue and drops its message silently. Binding here is serialised per process,
so "declared" always means "in the file".

Redis: when the broker goes away, celery tears the connection down (the transport loses its
client) before every channel is closed. A channel still holding unacknowledged messages (a
worker holds ETA messages unacked until they are due) then tries to hand them back to Redis
on close, builds a new client from the missing connection info, and raises AttributeError;
celery takes that for a fatal error and the worker exits instead of reconnecting. Here such a
channel skips the hand-back: those messages are still in Redis's unacked set (kombu returns
them to their queue after the visibility timeout), and if Redis lost them, Hourglass
re-publishes every pending run whose message is overdue (jobs.engine.reaper).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import OrderedDict
from time import monotonic
from typing import Any, cast

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem, redis
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


def _write_whole(final: str, content: bytes) -> None:
    directory, name = os.path.split(final)
    partial = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.part")  # no reader matches ".*.part"
    with open(partial, "wb") as handle:
        handle.write(content)
    os.replace(partial, final)


_bind_lock = threading.Lock()


class Channel(filesystem.Channel):
    def queue_bind(self, *args: Any, **kwargs: Any) -> None:
        with _bind_lock:
            super().queue_bind(*args, **kwargs)

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]  # kombu's real signature
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        try:
            _write_whole(final, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str | None, queue: str) -> None:
        table = self._exchange_file(exchange)  # type: ignore[attr-defined]  # kombu's; not in the stub
        self.control_folder.mkdir(exist_ok=True)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            with open(table.with_suffix(".lock"), "a") as guard:
                filesystem.lock(guard, filesystem.LOCK_EX)  # type: ignore[attr-defined]  # kombu's; not in the stub
                try:
                    queues = self.get_table(exchange)
                    if entry not in queues:
                        _write_whole(str(table), str_to_bytes(dumps([entry, *queues])))
                finally:
                    filesystem.unlock(guard)
        except OSError as exc:
            raise ChannelError(f"Cannot open {table}") from exc


class Transport(filesystem.Transport):
    Channel = Channel


class RedisQoS(redis.QoS):
    def restore_unacked(self, client: Any = None) -> None:
        if client is None and self.channel.connection.client is None:
            if self._delivered:
                logger.warning(
                    "Broker connection already closed: %d unacknowledged message(s) left for Redis to restore",
                    len(self._delivered),
                )
            cast(OrderedDict, self._delivered).clear()  # QoS.__init__ sets it; None is only the class default
            return
        super().restore_unacked(client)


class RedisChannel(redis.Channel):
    QoS = RedisQoS


class RedisTransport(redis.Transport):
    Channel = RedisChannel


def register() -> None:
    """Make `filesystem://` and `redis://` broker URLs use these transports."""
    TRANSPORT_ALIASES["filesystem"] = "config.broker:Transport"
    TRANSPORT_ALIASES["redis"] = TRANSPORT_ALIASES["rediss"] = "config.broker:RedisTransport"
