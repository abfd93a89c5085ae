"""The shared cache: one throttle for every process, and an API that keeps serving when Redis is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from config.cache import FailOpenRedisCache
from jobs.services import apikey_create

ROOT = Path(__file__).resolve().parents[2]


def test_a_value_written_by_another_process_is_seen_here():
    key, value = f"shared-{uuid.uuid4().hex}", uuid.uuid4().hex
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    script = (
        "import django, sys; from django.conf import settings; django.setup();"
        f"settings.CACHES['default']['KEY_PREFIX'] = {prefix!r};"
        "from django.core.cache import cache;"
        f"cache.set({key!r}, {value!r}, 60)"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        check=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    assert cache.get(key) == value
    cache.delete(key)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


DEAD_REDIS = {
    "default": {
        "BACKEND": "config.cache.FailOpenRedisCache",
        "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


def test_an_unreachable_redis_reads_as_misses_and_drops_writes(caplog, monkeypatch):
    monkeypatch.setattr("config.cache.PAUSE_S", 0.0)  # try Redis on every call here
    dead = FailOpenRedisCache(DEAD_REDIS["default"]["LOCATION"], DEAD_REDIS["default"])
    started = time.monotonic()
    assert dead.get("k") is None
    assert dead.get("k", "fallback") == "fallback"
    assert dead.set("k", 1, 60) is None
    assert dead.add("k", 1, 60) is False
    assert dead.get_many(["a", "b"]) == {}
    assert dead.delete("k") is False
    with pytest.raises(ValueError, match="cache unavailable"):
        dead.incr("k")  # what a missing key does; the login throttle handles it
    assert dead.clear() is True
    assert time.monotonic() - started < 10
    assert "Cache unavailable" in caplog.text


def test_a_redis_that_never_answers_costs_one_timeout_then_is_skipped_for_a_while():
    with socket.socket() as mute:  # accepts connections, never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen(16)
        location = f"redis://127.0.0.1:{mute.getsockname()[1]}/0"
        hung = FailOpenRedisCache(location, {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}})
        started = time.monotonic()
        assert hung.get("k", "fallback") == "fallback"
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(10):
            assert hung.get("k", "fallback") == "fallback"
            hung.set("k", 1, 60)
        following = time.monotonic() - started
    assert first >= 0.4  # it did wait for the socket timeout once
    assert following < 0.2  # and not twenty times more


@pytest.mark.django_db
def test_the_api_and_the_sign_in_form_keep_working_without_the_cache(client, team, owner):
    _, key = apikey_create(team=team, name="reader", scopes=["job:read"], created_by=owner)
    with override_settings(CACHES=DEAD_REDIS):
        assert client.get("/api/jobs", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
        response = client.post(reverse("login"), {"username": owner.username, "password": "wrong"})
        assert response.status_code == 200  # the form with its error, not a 500


@pytest.mark.skipif(not settings.CACHES["default"]["BACKEND"].endswith("FailOpenRedisCache"), reason="Redis only")
def test_clearing_the_cache_leaves_the_rest_of_the_redis_database_alone():
    client = cache._cache.get_client(write=True)
    foreign = f"not-the-cache-{uuid.uuid4().hex}"
    client.set(foreign, "broker data", ex=60)
    cache.set("ours", 1, 60)
    try:
        cache.clear()
        assert cache.get("ours") is None
        assert client.get(foreign) == b"broker data"
    finally:
        client.delete(foreign)


def test_clearing_the_folder_cache_leaves_other_prefixes_alone(tmp_path):
    """Processes sharing var/cache under other prefixes (test sessions, say) keep their entries."""
    from config.cache import FolderCache

    ours = FolderCache(str(tmp_path), {"KEY_PREFIX": "ours"})
    theirs = FolderCache(str(tmp_path), {"KEY_PREFIX": "theirs/x"})
    unprefixed = FolderCache(str(tmp_path), {})
    for each in (ours, theirs, unprefixed):
        each.set("counter", 7, 60)
    ours.clear()
    assert ours.get("counter") is None
    assert theirs.get("counter") == 7
    assert unprefixed.get("counter") == 7
    assert FolderCache(str(tmp_path), {"KEY_PREFIX": "theirs/x"}).get("counter") == 7  # another process's view
