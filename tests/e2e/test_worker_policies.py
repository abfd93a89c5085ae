"""Overlap policies and cancellation through a real worker, against a slow HTTP target."""

import time
from datetime import timedelta

import pytest

from history.models import Run
from history.services import run_cancel
from tests.e2e.conftest import wait_until
from tests.e2e.support import interval_job, once_job, runs_of, stop_scheduling


def settle(job, worker) -> list[Run]:
    """Stop scheduling the job, stop what is still active, and return all its runs."""
    stop_scheduling(job)
    for run in Run.objects.filter(job=job).active():
        run_cancel(run=run, by=None)
    wait_until(lambda: not Run.objects.filter(job=job).active().exists(), 15, "the active runs to stop", worker)
    return runs_of(job)


pytestmark = pytest.mark.e2e


def test_forbid_skips_slots_while_a_run_is_active_and_runs_never_overlap(worker, team, target):
    job = interval_job(team, target.url("/delay/2500"), 1, overlap_policy="forbid", timeout_ms=5000)

    wait_until(lambda: len(runs_of(job, end_reason="success")) >= 2, 20, "two completed runs", worker)
    runs = settle(job, worker)

    executed = sorted((run for run in runs if run.started_at), key=lambda run: run.started_at)
    skipped = [run for run in runs if run.end_reason == "skipped"]
    assert len(skipped) >= 2
    assert all(run.started_at is None and run.exit_code is None for run in skipped)
    for earlier, later in zip(executed, executed[1:], strict=False):
        assert later.started_at >= earlier.finished_at  # one at a time
    assert len({run.scheduled_for for run in runs}) == len(runs)


def test_replace_stops_the_running_request_and_starts_the_new_slot(worker, team, target):
    job = interval_job(team, target.url("/delay/5000"), 2, overlap_policy="replace", timeout_ms=10000)

    def replaced_so_far() -> set | None:
        """Runs the dispatcher stopped (they had started), once there are two."""
        ids = {run.pk for run in runs_of(job, end_reason="stopped", started_at__isnull=False)}
        return ids if len(ids) >= 2 else None

    replaced_ids = wait_until(replaced_so_far, 20, "two replaced runs", worker)
    runs = settle(job, worker)  # stops the last one too, which has no successor

    replaced = [run for run in runs if run.pk in replaced_ids]
    assert len(replaced) >= 2
    for run in replaced:
        assert run.cancel_requested_at is not None
        assert run.duration_ms < 4500  # interrupted, not left to finish its 5 s request
    assert not [run for run in runs if run.end_reason == "success"]  # every run was replaced or stopped
    slots = {run.scheduled_for for run in runs}
    assert all(run.scheduled_for + timedelta(seconds=2) in slots for run in replaced)  # each by the next slot


def test_cancel_interrupts_a_running_request(worker, team, target):
    job = once_job(team, target.url("/hang"), timeout_ms=30000)
    [run] = wait_until(lambda: runs_of(job, status="running"), 15, "the run to start", worker)
    wait_until(lambda: target.received("/hang"), 5, "the request to reach the target", worker)

    run = run_cancel(run=run, by=None)
    asked = time.monotonic()
    wait_until(lambda: Run.objects.filter(pk=run.pk, status="ended").exists(), 10, "the run to stop", worker)

    assert time.monotonic() - asked < 5
    run.refresh_from_db()
    assert run.end_reason == "stopped"
    assert run.duration_ms < 10000
    assert run.finished_at >= run.cancel_requested_at
    assert {step.status for step in run.steps.all()} == {"canceled"}
