"""Failures through a real worker: retries, timeouts, and a worker killed in the middle of a run."""

import time

import pytest

from history.models import Run
from tests.e2e.conftest import wait_until
from tests.e2e.support import once_job, runs_of

pytestmark = pytest.mark.e2e


def test_a_failing_target_is_retried_up_to_the_limit_as_a_chain_of_attempts(worker, team, target):
    job = once_job(team, target.url("/status/500"), retry_limit=2, backoff_strategy="constant", backoff_base_seconds=1)

    wait_until(lambda: len(runs_of(job, status="ended")) == 3, 20, "three failed attempts", worker)
    time.sleep(2)  # room for a fourth attempt, which must not come

    runs = runs_of(job)
    assert [(run.attempt, run.end_reason, run.http_status, run.exit_code) for run in runs] == [
        (1, "failed", 500, 1),
        (2, "failed", 500, 1),
        (3, "failed", 500, 1),
    ]
    assert [run.retry_of_id for run in runs] == [None, runs[0].pk, runs[1].pk]
    assert len({run.scheduled_for for run in runs}) == 1  # one slot, three attempts
    assert all(run.started_at >= run.not_before for run in runs[1:])  # each waited for its backoff
    assert len(target.received("/status/500")) == 3


def test_a_target_that_hangs_ends_in_a_timeout(worker, team, target):
    job = once_job(team, target.url("/hang"), timeout_ms=1500)

    [run] = wait_until(lambda: runs_of(job, status="ended"), 15, "the run to time out", worker)

    assert (run.end_reason, run.exit_code) == ("timeout", 124)
    assert 1400 <= run.duration_ms < 5000


def test_a_run_whose_worker_is_killed_is_crashed_then_retried_and_succeeds_once(start_worker, team, target):
    # Lease = step timeout (4 s) + 1 s grace; the reaper runs every 2 s.
    worker = start_worker(HOURGLASS_LEASE_GRACE_SECONDS="1")
    job = once_job(
        team,
        target.url("/delay/2500"),
        timeout_ms=4000,
        retry_limit=1,
        backoff_strategy="constant",
        backoff_base_seconds=1,
    )
    [first] = wait_until(lambda: runs_of(job, status="running"), 15, "the first attempt to start", worker)
    wait_until(lambda: target.received("/delay/"), 5, "the request to reach the target", worker)

    worker.kill()  # kill -9 of the whole worker, mid-request

    first.refresh_from_db()
    assert first.status == "running"  # nobody is left to finish it
    restarted = start_worker(HOURGLASS_LEASE_GRACE_SECONDS="1")
    wait_until(lambda: runs_of(job, end_reason="success"), 30, "the retried attempt to succeed", restarted)
    time.sleep(2)  # a late duplicate message or reaper pass must change nothing

    runs = runs_of(job)
    assert [(run.attempt, run.status, run.end_reason) for run in runs] == [
        (1, "ended", "crashed"),
        (2, "ended", "success"),
    ]
    assert runs[1].retry_of_id == runs[0].pk
    assert Run.objects.filter(job=job, scheduled_for=first.scheduled_for, end_reason="success").count() == 1
    # The target saw the same Idempotency-Key on both attempts (the first attempt's run id).
    keys = [request.headers.get("Idempotency-Key") for request in target.received("/delay/")]
    assert len(keys) == 2
    assert keys[0] == keys[1] == str(runs[0].pk)
