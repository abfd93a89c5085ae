"""The engine through a real worker: staged runs survive a kill and a stop, teams don't wait for each other,
and the broker never carries a secret.

- A worker killed with -9 while it holds staged runs (claimed, not sent): once the claim lapses,
  the reaper hands them back and another worker sends them, as attempt 1, once.
- SIGTERM: staged runs are handed back at once, so a worker started after it sends them on time.
- One team's 20 runs hang on a target that never answers; another team's run, due a second
  later, still leaves on its slot.
- What the dispatcher and the API publish is run ids: a secret header's value is not in any
  message on the broker.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from pathlib import Path

import pytest

from history.models import Run
from history.services import run_trigger
from tests.e2e.conftest import AMQP, BROKER_DIR, BROKER_URL, REDIS_URL, wait_until
from tests.e2e.support import http_job, once_job, pool_pids, runs_of
from tests.factories import TeamFactory

pytestmark = pytest.mark.e2e

# Dispatched (and so staged) this far ahead of their slot, so a test can act in between.
AHEAD = {"HOURGLASS_DISPATCH_LOOKAHEAD_MS": "20000", "HOURGLASS_LEASE_GRACE_SECONDS": "2"}


def _staged(job) -> list[Run]:
    return [run for run in runs_of(job, status="pending") if run.worker]


def test_a_worker_killed_with_staged_runs_loses_none_and_counts_no_attempt(start_worker, team, target):
    worker = start_worker(**AHEAD)
    job = once_job(team, target.url("/ok?staged"), in_seconds=6)
    [staged] = wait_until(lambda: _staged(job), 15, "the run to be staged", worker)
    assert staged.started_at is None

    worker.kill()  # kill -9 of the whole worker while its engine holds the run

    assert target.received("/ok") == []
    restarted = start_worker(**AHEAD)
    [run] = wait_until(lambda: runs_of(job, status="ended"), 40, "the run to be sent by the new worker", restarted)
    assert (run.attempt, run.end_reason) == (1, "success")  # the same attempt: nothing had been sent
    assert run.worker != staged.worker
    assert len(runs_of(job)) == 1  # no crashed attempt, no retry
    assert len(target.received("/ok")) == 1


def test_sigterm_hands_staged_runs_back_so_another_worker_sends_them_on_time(start_worker, team, target):
    worker = start_worker(**AHEAD)
    job = once_job(team, target.url("/ok?handed"), in_seconds=12)
    [staged] = wait_until(lambda: _staged(job), 15, "the run to be staged", worker)

    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(20)

    [run] = runs_of(job)
    assert (run.status, run.worker, run.lease_expires_at) == ("pending", "", None)  # handed back, not lost
    restarted = start_worker(**AHEAD)
    [run] = wait_until(lambda: runs_of(job, status="ended"), 30, "the handed-back run to be sent", restarted)
    assert (run.attempt, run.end_reason) == (1, "success")
    assert run.lateness_ms < 1000  # sent on its slot by the new worker, not after a lease ran out
    assert len(target.received("/ok")) == 1


def test_a_teams_hanging_runs_do_not_delay_another_teams_run(start_worker, team, target):
    # make run's executor: two pool processes.
    worker = start_worker(concurrency=2)
    hanging = http_job(team, target.url("/hang"), timeout_ms=90_000, schedule_kind="once", cron_expression="")
    for _ in range(20):  # twenty messages: with one batch per pool process, they used to hold both
        run_trigger(job=hanging, by=None)
    wait_until(lambda: len(target.received("/hang")) == 20, 20, "20 requests hanging", worker)

    other = TeamFactory(slug="initech")
    job = once_job(other, target.url("/ok?other"), in_seconds=1)
    [run] = wait_until(lambda: runs_of(job, status="ended"), 15, "the other team's run", worker)

    assert run.end_reason == "success"
    assert run.lateness_ms < 100
    [request] = target.received("/ok")
    assert request.at - run.scheduled_for.timestamp() < 0.1
    assert Run.objects.filter(job=hanging, status="running").count() == 20  # still hanging meanwhile


def _broker_messages() -> list[dict]:
    """Every message waiting on the broker, as the broker stores it, with its body decoded."""
    if AMQP:
        return _rabbitmq_messages()
    if REDIS_URL:
        import redis

        client = redis.Redis.from_url(BROKER_URL)
        raw = [item for key in client.keys("*") if client.type(key) == b"list" for item in client.lrange(key, 0, -1)]
    else:
        raw = [path.read_bytes() for path in Path(BROKER_DIR / "out").glob("*.msg")]
    messages = []
    for item in raw:
        envelope = json.loads(item)
        messages.append({"raw": item, "body": base64.b64decode(envelope["body"])})
    return messages


def _rabbitmq_messages() -> list[dict]:
    """Every message in the session's vhost's queues: fetched unacknowledged, so RabbitMQ keeps them."""
    from amqp.exceptions import NotFound
    from kombu import Connection

    messages = []
    with Connection(BROKER_URL) as broker:
        channel = broker.channel()
        for queue in ("celery", "clock"):
            try:
                while (message := channel.basic_get(queue, no_ack=False)) is not None:
                    body = message.body if isinstance(message.body, bytes) else message.body.encode()
                    messages.append({"raw": body + json.dumps(message.headers, default=str).encode(), "body": body})
            except NotFound:  # the queue is not declared (yet); it closed the channel
                channel = broker.channel()
        channel.close()  # unacknowledged: back on their queues
    return messages


def test_no_secret_header_value_reaches_the_broker(transactional_db, team, target):
    secret = "s3cr3t-broker-value"  # the value the test looks for
    job = http_job(team, target.url("/ok"), secret_headers=["X-Custom"])
    job.steps.filter(name="main").update(
        config={"method": "GET", "url": target.url("/ok"), "headers": {"X-Custom": secret, "Authorization": secret}}
    )

    run = run_trigger(job=job, by=None)  # published on commit, through the real broker; no worker reads it

    def ours() -> list[dict]:
        return [m for m in _broker_messages() if str(run.pk).encode() in m["body"]]

    [message] = wait_until(ours, 10, "the run's message on the broker")
    assert json.loads(message["body"])[0] == [[str(run.pk)]]  # the task's arguments: run ids, nothing else
    assert secret.encode() not in message["raw"]
    assert secret.encode() not in message["body"]


def test_a_stopping_worker_waits_for_in_flight_runs_only_for_its_grace(start_worker, team, target):
    worker = start_worker(HOURGLASS_SHUTDOWN_GRACE_SECONDS="2")
    job = once_job(
        team, target.url("/hang"), timeout_ms=60_000, retry_limit=1, backoff_strategy="constant", backoff_base_seconds=1
    )
    wait_until(lambda: target.received("/hang"), 15, "the request to hang", worker)

    stopping = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(30)

    assert time.monotonic() - stopping < 10  # the grace, not the request's 60 s timeout
    first, retry = runs_of(job)
    assert (first.attempt, first.status, first.end_reason) == (1, "ended", "crashed")
    assert "shut down" in first.error
    assert (retry.attempt, retry.status, retry.retry_of_id) == (2, "pending", first.pk)  # sent by the next worker


def test_a_worker_whose_pool_process_is_stuck_still_exits(start_worker, team, target):
    worker = start_worker(HOURGLASS_SHUTDOWN_GRACE_SECONDS="1")
    for child in pool_pids(worker.process.pid):  # the pool processes and beat
        os.kill(child, signal.SIGSTOP)  # as stuck as a process gets: it can't even run its shutdown

    stopping = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(40)

    assert time.monotonic() - stopping < 25  # the grace plus the margin, then the straggler is killed
    assert "did not stop within the grace" in worker.log_tail(100_000)  # before the pool's tracebacks
    # With the filesystem broker a killed pool process may hold billiard's queue lock, which its
    # exit handler then waits for: the worker ends itself (status 1) rather than hang.
    assert worker.process.returncode in (0, 1)
