"""Cancellation: a running request is interrupted, the run ends stopped and its steps canceled."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django.utils import timezone

from history.models import Run
from jobs.engine.execute import execute_runs
from tests.jobs.engine.execute_support import execute, http_config, make_job, make_run, steps_of


def _cancel_later(run: Run, delay_s: float) -> threading.Thread:
    def cancel() -> None:
        time.sleep(delay_s)
        try:
            Run.objects.filter(pk=run.pk).update(cancel_requested_at=timezone.now())
        finally:
            connection.close()

    thread = threading.Thread(target=cancel)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_it_stops_a_running_request_when_cancellation_is_requested(team, target):
    job = make_job(
        team,
        target.url("/hang"),
        retry_limit=3,
        main_config={"timeout_ms": 60000},
        steps=[{"name": "after", "config": http_config(target.url("/ok")), "depends_on": ["main"], "run_if": "always"}],
    )
    other = make_run(make_job(team, target.url("/delay/100")))
    run = make_run(job)
    canceller = _cancel_later(run, 0.5)
    started = time.monotonic()
    execute_runs([str(run.pk), str(other.pk)])
    elapsed = time.monotonic() - started
    canceller.join()
    run.refresh_from_db()
    other.refresh_from_db()

    assert elapsed < 2.5  # the hang was interrupted, not waited out
    assert (run.status, run.end_reason) == ("ended", "stopped")
    assert {name: step.status for name, step in steps_of(run).items()} == {"main": "canceled", "after": "canceled"}
    assert steps_of(run)["main"].finished_at is not None
    assert target.received("/ok") == []
    assert not run.retries.exists()
    assert other.end_reason == "success"  # the rest of the batch is unaffected


class SilentServer:
    """Accepts one request and never answers; records when the client closes the connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.request_seen = threading.Event()
        self.closed_by_client = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(10)
            while True:
                data = conn.recv(65536)
                if not data:
                    self.closed_by_client.set()
                    return
                self.request_seen.set()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.sock.close()


@pytest.mark.django_db(transaction=True)
def test_cancelling_closes_the_connection_to_the_target(team, silent_server):
    run = make_run(make_job(team, f"http://127.0.0.1:{silent_server.port}/", main_config={"timeout_ms": 60000}))
    canceller = _cancel_later(run, 0.5)
    run = execute(run)
    canceller.join()

    assert silent_server.request_seen.is_set()
    assert silent_server.closed_by_client.wait(2)
    assert run.end_reason == "stopped"


@pytest.mark.django_db(transaction=True)
def test_a_run_cancelled_before_it_starts_never_sends(team, target):
    run = make_run(make_job(team, target.url("/ok")), cancel_requested_at=timezone.now())

    run = execute(run)

    assert (run.status, run.end_reason, run.started_at) == ("ended", "stopped", None)
    assert steps_of(run)["main"].status == "canceled"
    assert target.received() == []
