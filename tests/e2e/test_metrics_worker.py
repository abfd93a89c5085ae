"""Operability through a real `celery worker -B`: what its processes record shows in this process's
/metrics, and /healthz follows the dispatcher's heartbeat."""

from __future__ import annotations

import os

import pytest

from history.models import Run
from tests.e2e.conftest import wait_until
from tests.e2e.support import interval_job, runs_of, stop_scheduling
from tests.ops.support import scrape, value

pytestmark = pytest.mark.e2e


def test_what_worker_processes_record_shows_in_the_web_processs_metrics(
    start_worker, team, target, client, settings, tmp_path
):
    # The worker gets a folder of its own, so every figure read from it was recorded over there.
    folder = tmp_path / "prometheus"
    folder.mkdir()
    worker = start_worker(PROMETHEUS_MULTIPROC_DIR=str(folder))
    passing = interval_job(team, target.url("/ok"), 1)
    failing = interval_job(team, target.url("/status/500"), 1)

    def enough() -> bool:
        return len(runs_of(passing, status="ended")) >= 3 and len(runs_of(failing, status="ended")) >= 3

    wait_until(enough, 20, "three runs of each job", worker)
    stop_scheduling(passing)
    stop_scheduling(failing)
    wait_until(lambda: not Run.objects.active().exists(), 10, "the last runs to end", worker)

    succeeded = Run.objects.filter(end_reason="success").count()
    failed = Run.objects.filter(end_reason="failed").count()
    settings.PROMETHEUS_MULTIPROC_DIR = folder

    def counted() -> dict | None:
        # A counter moves just after its run's row commits, so allow the worker a moment.
        exposed = scrape(client)
        ended = (
            value(exposed, "hourglass_runs_ended_total", end_reason="success"),
            value(exposed, "hourglass_runs_ended_total", end_reason="failed"),
        )
        return exposed if ended == (succeeded, failed) else None

    exposed = wait_until(counted, 5, f"the scrape to count {succeeded} successes and {failed} failures", worker)
    assert value(exposed, "hourglass_run_duration_seconds_count") == succeeded + failed
    assert value(exposed, "hourglass_run_lateness_seconds_count") == succeeded + failed
    assert value(exposed, "hourglass_dispatch_runs_per_tick_count") >= 3  # beat ticks every second
    # The metric counts every run the dispatcher created (a skipped or missed slot too), so compare
    # with those rows rather than with the successes and failures.
    dispatched = Run.objects.filter(triggered_by=Run.Trigger.CRON, attempt=1).count()
    assert dispatched >= succeeded + failed
    assert value(exposed, "hourglass_dispatch_runs_per_tick_sum") == dispatched
    recorders = {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("*.db")}
    assert recorders
    assert os.getpid() not in recorders


def test_healthz_follows_the_dispatchers_heartbeat(worker, client, settings):
    wait_until(lambda: client.get("/healthz").status_code == 200, 15, "a healthy service", worker)

    worker.stop()  # beat, the dispatcher and the executor all go
    settings.HOURGLASS_HEALTH_MAX_DISPATCH_AGE_SECONDS = 3

    def beat_failing() -> bool:
        response = client.get("/healthz")
        return response.status_code == 503 and response.json()["failing"] == ["beat"]

    wait_until(beat_failing, 15, "healthz to name beat")
