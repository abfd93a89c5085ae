import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from history.models import Run, RunStep
from history.retention import prune_all, prune_job
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
_slots = itertools.count()


def runs(job, count: int, *, days_old: float = 0, **fields) -> list[Run]:
    """`count` runs, created one minute apart, the newest `days_old` days before NOW."""
    made = []
    for k in range(count):
        created = NOW - timedelta(days=days_old, minutes=count - k)
        run = RunFactory(job=job, scheduled_for=created + timedelta(microseconds=next(_slots)), **fields)
        Run.objects.filter(pk=run.pk).update(created_at=created)  # auto_now_add ignores the factory
        made.append(run)
    return made


def remaining(job) -> set:
    return set(Run.objects.filter(job=job).values_list("pk", flat=True))


def test_it_keeps_the_newest_runs_and_never_an_active_one():
    job = JobFactory(keep_runs=3)
    old_active = runs(job, 1, days_old=30, status="running", end_reason="")
    old_pending = runs(job, 1, days_old=30, status="pending", end_reason="")
    ended = runs(job, 10)

    assert prune_job(job, NOW) == 7

    assert remaining(job) == {r.pk for r in ended[-3:] + old_active + old_pending}


def test_keep_days_deletes_old_runs_even_among_the_newest(team):
    job = JobFactory(team=team, keep_runs=100, keep_days=7)
    old = runs(job, 4, days_old=8)
    recent = runs(job, 4, days_old=1)
    assert prune_job(job, NOW) == len(old)
    assert remaining(job) == {r.pk for r in recent}


def test_failures_are_kept_for_keep_failed_days_beyond_the_other_rules(team):
    job = JobFactory(team=team, keep_runs=2, keep_days=7, keep_failed_days=30)
    old_failures = runs(job, 2, days_old=40, end_reason="failed")
    young_failures = runs(job, 2, days_old=20, end_reason="timeout")
    young_successes = runs(job, 2, days_old=20)
    skipped = runs(job, 2, days_old=10, end_reason="skipped")  # policy, not a failure: ages as a success
    newest = runs(job, 2)

    assert prune_job(job, NOW) == len(old_failures + young_successes + skipped)
    assert remaining(job) == {r.pk for r in young_failures + newest}


def test_keep_runs_zero_keeps_no_ended_run(team):
    job = JobFactory(team=team, keep_runs=0)
    runs(job, 3)
    running = runs(job, 1, status="running", end_reason="")
    assert prune_job(job, NOW) == 3
    assert remaining(job) == {running[0].pk}


def test_it_deletes_in_batches_with_the_steps_and_unlinks_retries(team):
    job = JobFactory(team=team, keep_runs=1)
    old = runs(job, 7, days_old=2, end_reason="failed")
    for run in old:
        RunStep.objects.create(run=run, name="main")
    retry = runs(job, 1, end_reason="success")[0]
    Run.objects.filter(pk=retry.pk).update(retry_of=old[-1], attempt=2)

    with CaptureQueriesContext(connection) as queries:
        assert prune_job(job, NOW, batch_size=3) == 7

    run_deletes = [q for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "history_run"')]
    assert len(run_deletes) == 3  # 3 + 3 + 1, each in its own short transaction
    assert remaining(job) == {retry.pk}
    assert not RunStep.objects.filter(run__job=job).exists()
    retry.refresh_from_db()
    assert retry.retry_of is None


def test_a_dry_run_counts_and_deletes_nothing(team):
    job = JobFactory(team=team, keep_runs=2)
    runs(job, 5)
    assert prune_job(job, NOW, dry_run=True) == 3
    assert Run.objects.filter(job=job).count() == 5


def test_prune_all_applies_each_jobs_retention_and_reports_progress(team, other_team):
    a = JobFactory(team=team, keep_runs=1)
    b = JobFactory(team=other_team, keep_runs=2)
    runs(a, 4)
    runs(b, 4)
    seen = []

    assert prune_all(NOW, progress=lambda done, total, deleted: seen.append((done, total, deleted))) == 5

    assert [(done, total) for done, total, _ in seen] == [(1, 2), (2, 2)]
    assert seen[-1][2] == 5
    assert Run.objects.filter(job=a).count() == 1
    assert Run.objects.filter(job=b).count() == 2
