"""Promise 5: Redis (the broker) down for ~30 s, then back; and Redis flushed.

Runs only when REDIS_URL is set (the PG+Redis pass of CI). The shared Redis is never touched:
the test starts its own `redis-server` on a free port, points the worker at it, kills it
(SIGKILL) for 30 s and starts it again on the same port, then FLUSHDBs it.
Asserted: the API keeps serving during the outage; every slot dispatched is accounted for
afterwards - ended (with its lateness, started_at - scheduled_for, recorded) or `missed` -
and none stays pending (lost) once the broker is back, including after the flush.
"""

import os
import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from history.models import Run
from tests.e2e.conftest import wait_until
from tests.e2e.support import interval_job, runs_of

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the PG+Redis pass runs it)"),
]

OUTAGE_S = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        def up() -> bool:
            try:
                return bool(redis.Redis(port=self.port).ping())
            except redis.ConnectionError:
                return False

        wait_until(up, 10, "redis-server to start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def flushdb(self) -> None:
        import redis

        redis.Redis(port=self.port).flushdb()


@pytest.fixture
def own_redis():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = OwnRedis(free_port())
    server.start()
    yield server
    server.kill()


def assert_api_serves(owner, job) -> None:
    api = APIClient()
    api.force_login(owner)
    assert api.get("/api/jobs").status_code == 200
    assert api.get(f"/api/jobs/{job.pk}/history").status_code == 200


def none_pending_before(job, moment) -> bool:
    return not Run.objects.filter(job=job, status__in=["pending", "running"], scheduled_for__lt=moment).exists()


def test_broker_down_then_back_and_flushed_loses_no_run(start_worker, own_redis, team, owner, target):
    worker = start_worker(
        REDIS_URL=f"redis://127.0.0.1:{own_redis.port}/0",
        HOURGLASS_REPUBLISH_AFTER_SECONDS="3",
        HOURGLASS_LEASE_GRACE_SECONDS="1",
    )
    late = interval_job(team, target.url("/ok?late"), 5, misfire_grace_seconds=120)
    missed = interval_job(team, target.url("/ok?missed"), 5, misfire_grace_seconds=5)
    wait_until(lambda: runs_of(late, end_reason="success"), 20, "a first run", worker)

    own_redis.kill()
    down_at = timezone.now()
    deadline = time.monotonic() + OUTAGE_S
    while time.monotonic() < deadline:
        assert_api_serves(owner, late)
        time.sleep(3)
    own_redis.start()  # same port, empty
    up_at = timezone.now()

    recovered = {"end_reason": "success", "scheduled_for__gte": up_at}
    wait_until(lambda: runs_of(late, **recovered), 60, "a run after the broker came back", worker)
    assert worker.process.poll() is None, "the worker exited on the broker loss:\n" + worker.log_tail(80)
    wait_until(lambda: none_pending_before(late, up_at), 45, "the late job's slots to drain", worker)
    wait_until(lambda: none_pending_before(missed, up_at), 30, "the grace-5 job's slots to drain", worker)
    during = Run.objects.filter(job=late, scheduled_for__gte=down_at, scheduled_for__lt=up_at)
    assert during.exists()
    assert all(run.status == "ended" for run in during)
    lateness = [run.started_at - run.scheduled_for for run in during if run.started_at]
    assert lateness
    assert max(lateness) >= timedelta(seconds=10)  # late, and the lateness is on the row
    assert runs_of(missed, end_reason="missed")  # the short-grace job recorded a miss, not a burst

    own_redis.flushdb()  # queued (eta) messages are gone
    flushed_at = timezone.now()
    wait_until(
        lambda: none_pending_before(late, flushed_at + timedelta(seconds=6)), 40, "slots after the flush", worker
    )
    for job in (late, missed):
        slots = list(Run.objects.filter(job=job).values_list("scheduled_for", "attempt"))
        assert len(slots) == len(set(slots))  # no slot twice
    # Beat logs a traceback for each tick it could not send while the broker was down (celery's
    # own "Couldn't apply scheduled task"); no task of ours may have raised.
    assert "raised unexpected" not in worker.log_tail(2000)
