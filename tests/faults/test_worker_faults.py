"""Faults through a real `celery -A config worker -B` (tests/e2e harness) and the local target.

- Promise 2: SIGTERM of the worker mid-run: the warm shutdown lets the in-flight run finish,
  and nothing stays `running` past its lease once a worker is back.
- Promise 7: a target that trickles a byte every 200 ms ends `timeout` at the configured total
  (the hang case is tests/e2e/test_worker_failures.py).
- Promise 8: a 1 GB response, an endless chunked response and a gzip bomb are read up to the
  cap, stored truncated, and the pool process's peak RSS (VmHWM) stays flat.
- Promise 10: a job deleted while its run is queued: Run.job is on_delete=CASCADE, so the run
  row goes with the job and the queued message finds nothing to claim; the target sees no
  request and the worker logs no traceback. A job paused while its scheduled run is queued:
  the executor ends that run `stopped` ("the job was paused") without sending it; a one-off
  job (which disables itself when dispatched) and manual runs are not affected. Nothing
  crashes in either case.
"""

import signal
import time
from pathlib import Path

import pytest

from history.models import Run
from jobs.services import job_delete, job_set_enabled
from tests.e2e.conftest import send_task, wait_until
from tests.e2e.support import http_job, once_job, pool_pids, runs_of
from tests.factories import RunFactory

pytestmark = pytest.mark.e2e

RSS_GROWTH_LIMIT_KB = 64 * 1024


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def test_sigterm_lets_the_in_flight_run_finish_and_leaves_nothing_running(start_worker, team, target):
    worker = start_worker(HOURGLASS_LEASE_GRACE_SECONDS="1")
    job = once_job(team, target.url("/delay/2500"), timeout_ms=5000)
    wait_until(lambda: runs_of(job, status="running"), 15, "the run to start", worker)
    wait_until(lambda: target.received("/delay/"), 5, "the request to reach the target", worker)

    worker.process.send_signal(signal.SIGTERM)  # warm shutdown of the main process
    worker.process.wait(20)

    [run] = runs_of(job)
    assert (run.status, run.end_reason) == ("ended", "success"), worker.log_tail(80)  # finished, not abandoned
    restarted = start_worker(HOURGLASS_LEASE_GRACE_SECONDS="1")
    time.sleep(3)  # past the lease (5 s + 1 s) counted from the start; the reaper runs every 2 s
    assert not Run.objects.filter(job=job, status="running").exists()
    assert Run.objects.filter(job=job, end_reason="success").count() == 1
    assert len(target.received("/delay/")) == 1
    assert "Traceback" not in restarted.log_tail(400)


def test_a_trickling_target_times_out_at_the_configured_total(worker, team, target):
    job = once_job(team, target.url("/trickle?count=100&interval_ms=200"), timeout_ms=1500)
    [run] = wait_until(lambda: runs_of(job, status="ended"), 15, "the run to time out", worker)
    assert (run.end_reason, run.exit_code) == ("timeout", 124)
    assert 1400 <= run.duration_ms < 3000  # the total, not a per-read idle timeout


def test_huge_endless_and_gzip_bomb_bodies_are_capped_with_flat_memory(worker, team, target):
    warm = once_job(team, target.url("/ok"))
    wait_until(lambda: runs_of(warm, status="ended"), 15, "a warm-up run", worker)
    pids = pool_pids(worker.process.pid)
    assert pids, "no pool process found"
    before = {pid: peak_rss_kb(pid) for pid in pids}

    paths = ["/bytes/1073741824", "/endless", "/gzip-bomb?mb=200"]
    jobs = [once_job(team, target.url(path), timeout_ms=10000) for path in paths]
    for job in jobs:
        wait_until(lambda job=job: runs_of(job, status="ended"), 40, f"{job.natural_id} to end", worker)

    for job in jobs:
        [run] = runs_of(job)
        assert run.end_reason in ("success", "failed"), (run.end_reason, run.error)
        assert run.end_reason != "timeout"  # reading stopped at the cap, not at the deadline
        assert run.response_body.endswith("...[truncated]"), run.response_body[-40:]
        assert len(run.response_body) < 1024 * 1024
    growth = {pid: peak_rss_kb(pid) - before[pid] for pid in pids if Path(f"/proc/{pid}").exists()}
    assert max(growth.values()) < RSS_GROWTH_LIMIT_KB, growth
    assert "Traceback" not in worker.log_tail(400)


def test_deleted_or_paused_job_with_a_queued_run(worker, team, target):
    deleted = http_job(team, target.url("/ok?deleted"), schedule_kind="once", cron_expression="", enabled=False)
    paused = http_job(team, target.url("/ok?paused"), enabled=True)
    gone = RunFactory(job=deleted, status="pending", end_reason="")
    queued = RunFactory(job=paused, status="pending", end_reason="")

    job_delete(job=deleted)  # cascades to its runs
    job_set_enabled(job=paused, enabled=False)
    send_task("hourglass.execute_runs", [str(gone.pk), str(queued.pk)])

    wait_until(lambda: runs_of(paused, status="ended"), 15, "the paused job's queued run to end", worker)
    time.sleep(1)
    assert not Run.objects.filter(pk=gone.pk).exists()
    assert target.received("/ok") == []  # neither the deleted job's run nor the paused one fired
    [run] = runs_of(paused)
    assert (run.end_reason, run.error) == ("stopped", "Stopped: the job was paused.")
    assert "Traceback" not in worker.log_tail(400)
