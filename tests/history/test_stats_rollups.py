"""A busy job's stats come from hourly rollups that every ending path feeds; percentiles within 4.4 %."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from history import stats
from history.models import Run, RunHourly
from history.retention import prune_all
from history.rollups import Ended, bucket_of, bucket_value, rollup_ended, rollups_rebuild
from history.selectors import run_stats, run_success_rates
from history.services import run_cancel
from jobs.engine.execute import execute_runs
from tests.api_support import make_runs
from tests.factories import JobFactory
from tests.jobs.engine.execute_support import make_job, make_run

ACCURACY = 2 ** (1 / 16) - 1  # half a bucket, geometrically: 4.4 %


def test_a_bucket_stands_for_its_values_within_the_stated_accuracy():
    for value in [*range(0, 5000), *range(5000, 3_000_000, 997)]:
        shown = bucket_value(bucket_of(value))
        if value < 12:
            assert shown == value
        else:
            assert abs(shown - value) <= value * ACCURACY + 0.5, value


@pytest.mark.django_db
def test_batches_for_the_same_hour_add_up(team):
    job = JobFactory(team=team)
    at = timezone.now().replace(minute=30)
    rollup_ended([Ended(job.pk, "success", at, 100, 5), Ended(job.pk, "failed", at, 100, None)])
    rollup_ended([Ended(job.pk, "success", at + timedelta(seconds=1), 3000, 5)])

    hour = RunHourly.objects.get(job=job)
    assert (hour.ended, hour.succeeded) == (3, 2)
    assert hour.duration_hist == {str(bucket_of(100)): 2, str(bucket_of(3000)): 1}
    assert hour.lateness_hist == {str(bucket_of(5)): 2}
    assert hour.last_success_at == at + timedelta(seconds=1)
    assert hour.last_failure_at == at


@pytest.mark.django_db
def test_a_busy_jobs_stats_from_rollups_match_the_exact_ones(team, monkeypatch):
    job = JobFactory(team=team)
    rng = random.Random(3)  # noqa: S311 - test data
    now = timezone.now()
    for index in range(300):
        reason = "success" if rng.random() < 0.9 else "failed"
        make_runs(
            job, 1, start=now - timedelta(minutes=5 * index + 1), end_reason=reason,
            duration_ms=rng.randint(5, 5000), lateness_ms=rng.randint(1, 200),
            finished_at=now - timedelta(minutes=5 * index),
        )  # fmt: skip
    make_runs(job, 1, start=now - timedelta(seconds=30), status="running", end_reason="")
    since = now - timedelta(days=7)
    exact = run_stats(job=job, since=since)  # no rollups yet: a quiet job's exact path
    assert exact == stats._exact_stats_in_sql(job, Run.objects.filter(job=job, created_at__gte=since))
    assert rollups_rebuild(since=since) == 300

    monkeypatch.setattr(stats, "EXACT_LIMIT", 100)
    sketched = run_stats(job=job, since=since)

    rate = run_success_rates(job_ids=[job.pk], since=since)[job.pk]  # the job list's column, from the rollups too
    assert round(rate, 4) == exact["success_rate"]
    assert Run.objects.filter(job=job).delete()  # proof that the rate no longer reads the runs
    assert run_success_rates(job_ids=[job.pk], since=since)[job.pk] == rate
    same = ("runs", "ended", "succeeded", "success_rate", "last_success", "last_failure")
    assert {name: sketched[name] for name in same} == {name: exact[name] for name in same}
    for measure, percentiles in (("duration_ms", ("p50", "p95", "p99")), ("lateness_ms", ("p50", "p99"))):
        for p in percentiles:
            assert abs(sketched[measure][p] - exact[measure][p]) <= exact[measure][p] * ACCURACY + 0.5, (measure, p)


@pytest.mark.django_db(transaction=True)
def test_the_result_writer_and_cancellation_feed_the_rollups(team, target):
    job = make_job(team, target.url("/ok"))
    execute_runs([str(make_run(job).pk), str(make_run(job, scheduled_for=timezone.now() - timedelta(seconds=5)).pk)])
    run_cancel(run=make_run(job, scheduled_for=timezone.now() + timedelta(hours=1)), by=None)

    ended = Run.objects.filter(job=job, status="ended")
    assert ended.count() == 3
    rolled = RunHourly.objects.filter(job=job)
    assert sum(hour.ended for hour in rolled) == 3
    assert sum(hour.succeeded for hour in rolled) == 2
    assert sum(sum(hour.duration_hist.values()) for hour in rolled) == 2  # the stopped run never ran


@pytest.mark.django_db
def test_the_nightly_prune_drops_rollups_past_their_retention(team):
    job = JobFactory(team=team)
    now = timezone.now()
    rollup_ended(
        [Ended(job.pk, "success", now - timedelta(days=40)), Ended(job.pk, "success", now - timedelta(days=2))]
    )

    prune_all(now)

    assert [hour.hour.date() for hour in RunHourly.objects.filter(job=job)] == [(now - timedelta(days=2)).date()]
