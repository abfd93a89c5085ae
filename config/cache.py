"""The cache every process shares: API throttles and the sign-in failure counts live here.

With REDIS_URL it is Redis; otherwise a folder under var/. Either way the web workers, however
many, count against one limit (Django's default, a per-process memory cache, would let each
gunicorn worker grant the full rate again).

Redis here fails open: while it is unreachable, reads miss and writes are dropped with a
warning, and the limits are not enforced until it is back. The API and the dashboard keep
serving through a broker outage, which matters more than a throttle.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

WARN_EVERY_S = 30.0
PAUSE_S = 2.0
_FALLBACK = {"get": "default", "add": False, "has_key": False, "touch": False, "delete": False, "get_many": {}}


class FailOpenRedisCacheClient(RedisCacheClient):
    """After a failure, calls skip Redis for PAUSE_S: a Redis that hangs costs one request its
    socket timeout, not every request."""

    _last_warning = 0.0
    _down_until = 0.0

    def _failed(self, operation: str, exc: Exception) -> None:
        now = time.monotonic()
        self._down_until = now + PAUSE_S  # this client's: another cache (or thread) keeps trying
        if now - FailOpenRedisCacheClient._last_warning >= WARN_EVERY_S:
            FailOpenRedisCacheClient._last_warning = now
            logger.warning("Cache unavailable (%s: %s); throttles are not enforced until it is back", operation, exc)


class _Paused(RedisError):
    pass


def _fail_open(name: str) -> Callable[..., Any]:
    method = getattr(RedisCacheClient, name)

    @functools.wraps(method)
    def wrapper(self: FailOpenRedisCacheClient, *args: Any, **kwargs: Any) -> Any:
        try:
            if time.monotonic() < self._down_until:
                raise _Paused("paused after a failure")
            return method(self, *args, **kwargs)
        except RedisError as exc:
            if not isinstance(exc, _Paused):
                self._failed(name, exc)
            if name == "incr":
                raise ValueError("cache unavailable") from exc  # what a missing key raises: callers handle it
            fallback = _FALLBACK.get(name)
            if fallback == "default":
                return kwargs.get("default", args[1] if len(args) > 1 else None)
            return fallback

    return wrapper


for _name in ("add", "get", "set", "touch", "delete", "get_many", "has_key", "incr", "set_many", "delete_many"):
    setattr(FailOpenRedisCacheClient, _name, _fail_open(_name))


class FailOpenRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = FailOpenRedisCacheClient

    def clear(self) -> bool:  # type: ignore[override]  # RedisCache.clear returns a bool; the stub has only BaseCache's
        """Delete this cache's keys only: the database is shared with the broker's queues."""
        client = self._cache.get_client(write=True)  # type: ignore[attr-defined]  # RedisCache's; not in the stub
        pattern = self.make_key("*")
        try:
            for chunk in _chunks(client.scan_iter(match=pattern, count=500), 500):
                client.delete(*chunk)
        except RedisError as exc:
            logger.warning("Cache unavailable (clear: %s)", exc)
        return True


def _chunks(items: Any, size: int) -> Any:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class FolderCache(FileBasedCache):
    """The folder cache, in a subfolder per KEY_PREFIX when one is set.

    As with the Redis cache, `clear()` then empties only this prefix's entries: Django's own
    empties the whole folder, whatever prefix another process sharing it uses.
    """

    def __init__(self, dir: str, params: dict[str, Any]) -> None:
        prefix = params.get("KEY_PREFIX", "")
        if prefix:
            dir = str(Path(dir) / re.sub(r"[^A-Za-z0-9_.-]", "_", prefix))
        super().__init__(dir, params)
