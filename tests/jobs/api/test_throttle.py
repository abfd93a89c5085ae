"""The API throttle: a sliding-window estimate over two counters in the shared cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache

from jobs.auth import ApiKeyRateThrottle
from tests.api_support import throttle_rates

pytestmark = pytest.mark.django_db

WINDOW_START = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)  # a whole minute: window boundaries fall on :00


def test_a_window_boundary_does_not_hand_out_a_fresh_allowance(as_key, job):
    client = as_key("job:read")
    with (
        throttle_rates(apikey="3/minute"),
        time_machine.travel(WINDOW_START + timedelta(seconds=59.5), tick=False) as clock,
    ):
        assert [client.get("/api/jobs").status_code for _ in range(3)] == [200, 200, 200]
        clock.move_to(WINDOW_START + timedelta(seconds=60.5))  # a new minute: the last one still weighs ~99%
        assert client.get("/api/jobs").status_code == 429
        clock.move_to(WINDOW_START + timedelta(seconds=60 + 45))  # 3 x 25% + 0 leaves room
        assert client.get("/api/jobs").status_code == 200


def test_retry_after_is_when_one_more_request_fits(as_key, job):
    client = as_key("job:read")
    with throttle_rates(apikey="3/minute"), time_machine.travel(WINDOW_START, tick=False) as clock:
        for _ in range(3):
            client.get("/api/jobs")
        blocked = client.get("/api/jobs")
        assert blocked.status_code == 429
        wait = int(blocked["Retry-After"])
        assert wait == 80  # the rest of this minute, then until 3 x (1 - t/60) + 1 <= 3: t = 20 s
        clock.move_to(WINDOW_START + timedelta(seconds=wait - 2))
        assert client.get("/api/jobs").status_code == 429
        clock.move_to(WINDOW_START + timedelta(seconds=wait + 1))
        assert client.get("/api/jobs").status_code == 200


def test_the_cache_holds_two_counters_not_a_timestamp_per_request(as_key, make_key, job):
    raw = make_key(["job:read"])
    client = as_key(raw)
    with throttle_rates(apikey="1000/minute"), time_machine.travel(WINDOW_START + timedelta(seconds=30), tick=False):
        for _ in range(50):
            assert client.get("/api/jobs").status_code == 200
        key = ApiKeyRateThrottle().cache_format % {"scope": "apikey", "ident": raw.split("_")[1]}
        assert cache.get(f"{key}:{int(WINDOW_START.timestamp() // 60)}") == 50
