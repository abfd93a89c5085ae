"""pauseAfterFailures: after N failed runs in a row the job pauses itself, with an audit entry and a reason the
dashboard shows next to Resume; a success in between starts the count again, and a failure that is retried is not
yet one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from history.models import Run
from jobs.engine.autopause import pause_reason
from jobs.engine.reaper import crash
from jobs.models import AuditEntry
from tests.jobs.engine.execute_support import execute, make_job, make_run

pytestmark = pytest.mark.django_db(transaction=True)


def _runs(job, results: list[str]) -> None:
    start = timezone.now() - timedelta(minutes=len(results))
    for index, _ in enumerate(results):
        execute(make_run(job, scheduled_for=start + timedelta(minutes=index)))


def test_it_pauses_after_n_failures_in_a_row_and_says_why(team, target, client, editor):
    job = make_job(team, target.url("/status/500"), pause_after_failures=3)
    _runs(job, ["failed", "failed"])
    job.refresh_from_db()
    assert job.enabled
    _runs(job, ["failed"])
    job.refresh_from_db()
    assert (job.enabled, job.next_run_at, job.paused_reason) == (False, None, pause_reason(3))
    assert job.paused_reason == "Paused after 3 failures in a row (pauseAfterFailures)."
    entry = AuditEntry.objects.get(action=AuditEntry.Action.JOB_PAUSE, target_id=str(job.pk))
    assert (entry.actor_label, entry.details) == ("system", {"reason": job.paused_reason})

    client.force_login(editor)
    page = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert "Paused after 3 failures in a row" in page
    assert ">Resume</button>" in page
    client.post(reverse("jobs:resume", kwargs={"job_id": job.pk}))
    job.refresh_from_db()
    assert (job.enabled, job.paused_reason) == (True, "")


def test_a_success_in_between_starts_the_count_again(team, target):
    job = make_job(team, target.url("/status/500"), pause_after_failures=2)
    _runs(job, ["failed"])
    job.steps.filter(name="main").update(config={"method": "GET", "url": target.url("/ok"), "timeout_ms": 5000})
    _runs(job, ["success"])
    job.steps.filter(name="main").update(config={"method": "GET", "url": target.url("/status/500"), "timeout_ms": 5000})
    _runs(job, ["failed"])
    job.refresh_from_db()
    assert job.enabled
    assert Run.objects.filter(job=job, end_reason="failed").count() == 2


def test_a_failure_that_is_retried_does_not_count_until_its_last_attempt(team, target):
    job = make_job(team, target.url("/status/500"), pause_after_failures=1, retry_limit=1, backoff_base_seconds=0)
    execute(make_run(job))
    job.refresh_from_db()
    assert job.enabled  # the first attempt failed, its retry is pending
    retry = Run.objects.get(job=job, attempt=2)
    execute(retry)
    job.refresh_from_db()
    assert not job.enabled


def test_a_crash_the_reaper_declares_counts_too(team, target):
    job = make_job(team, target.url("/ok"), pause_after_failures=1)
    now = timezone.now()
    run = make_run(job)
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, started_at=now, lease_expires_at=now - timedelta(seconds=1)
    )
    assert crash(run.pk, now) == (True, False)
    job.refresh_from_db()
    assert (job.enabled, job.paused_reason) == (False, pause_reason(1))
