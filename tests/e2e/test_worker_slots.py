"""The clock and dispatcher through a real worker with beat: one run per slot, on time; misfires."""

from datetime import timedelta
from statistics import median

import pytest
from django.utils import timezone

from history.models import Run
from jobs.models import Job
from tests.e2e.conftest import wait_until
from tests.e2e.support import http_job, interval_job, runs_of, stop_scheduling, whole_second

pytestmark = pytest.mark.e2e


def test_an_every_second_job_runs_once_per_slot_with_its_lateness(worker, team, target, record_property):
    job = interval_job(team, target.url("/ok"), 1)

    wait_until(lambda: len(runs_of(job, status="ended")) >= 6, 20, "six runs of an every-second job", worker)
    stop_scheduling(job)
    # Slots inside the look-ahead (10 s) are already staged and still fire at their time.
    wait_until(lambda: not Run.objects.filter(job=job).active().exists(), 30, "the last runs to end", worker)

    runs = runs_of(job)
    slots = [run.scheduled_for for run in runs]
    assert len(slots) == len(set(slots))  # never two runs for one slot
    assert slots == [slots[0] + timedelta(seconds=k) for k in range(len(slots))]  # and no slot left out
    assert {(run.attempt, run.triggered_by, run.end_reason) for run in runs} == {(1, "cron", "success")}
    lateness = [run.lateness_ms for run in runs]
    assert all(ms is not None and 0 <= ms < 2500 for ms in lateness), lateness
    record_property("lateness_ms", {"median": median(lateness), "max": max(lateness)})
    assert len(target.received("/ok")) == len(runs)


def test_a_long_outage_is_one_missed_run_and_one_catch_up(worker, team, target):
    now = timezone.now()
    # Slots every minute on (now - 20 s) + k min; the job was last scheduled an hour ago.
    anchor = whole_second(now) - timedelta(seconds=20)
    job = http_job(
        team,
        target.url("/ok"),
        schedule_kind="interval",
        cron_expression="",
        interval_seconds=60,
        run_at=anchor - timedelta(hours=2),
        next_run_at=anchor - timedelta(hours=1),
        misfire_grace_seconds=90,
    )

    wait_until(lambda: runs_of(job, end_reason="success"), 10, "the catch-up run", worker)

    runs = runs_of(job)
    assert [(run.scheduled_for, run.end_reason) for run in runs] == [
        # The last slot that does not fire: the one within the grace before the catch-up is in the span too.
        (anchor - timedelta(minutes=1), "missed"),
        (anchor, "success"),  # the one catch-up: the latest slot within the grace
    ]
    assert runs[0].data["missed_from"] == (anchor - timedelta(hours=1)).isoformat()
    assert runs[0].data["missed_until"] == (anchor - timedelta(minutes=1)).isoformat()
    job.refresh_from_db()
    assert job.next_run_at == anchor + timedelta(minutes=1)
    assert Job.objects.get(pk=job.pk).enabled
    assert len(target.received("/ok")) == 1  # no burst
