"""Retention through a real worker: the prune task, sent through the broker the worker reads."""

from datetime import timedelta

import pytest
from django.utils import timezone

from history.models import Run
from tests.e2e.conftest import send_task, wait_until
from tests.e2e.support import http_job
from tests.factories import RunFactory

pytestmark = pytest.mark.e2e


def test_the_prune_task_keeps_the_newest_runs_and_never_a_running_one(worker, team, target):
    job = http_job(team, target.url("/ok"), enabled=False, keep_runs=3)
    now = timezone.now()
    running = RunFactory(
        job=job,
        scheduled_for=now - timedelta(days=30),
        status="running",
        end_reason="",
        started_at=now - timedelta(days=30),
        lease_expires_at=now + timedelta(hours=1),
    )
    ended = []
    for minutes in range(10, 0, -1):
        run = RunFactory(job=job, scheduled_for=now - timedelta(minutes=minutes), end_reason="success")
        Run.objects.filter(pk=run.pk).update(created_at=now - timedelta(minutes=minutes))
        ended.append(run)
    Run.objects.filter(pk=running.pk).update(created_at=now - timedelta(days=30))

    send_task("hourglass.prune")

    wait_until(lambda: Run.objects.filter(job=job).count() == 4, 15, "the prune task to run", worker)
    assert set(Run.objects.filter(job=job).values_list("pk", flat=True)) == {running.pk} | {r.pk for r in ended[-3:]}
