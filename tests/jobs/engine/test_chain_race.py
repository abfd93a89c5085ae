"""Exactly one downstream run per triggering combination, with concurrent writers on PostgreSQL.

Two executors end a fan-in's two upstream runs at the same instant: each writer's transaction has recorded its own
run's end (not yet committed) when both look for a complete generation, held there by a barrier. Without the row
lock each would miss the other's uncommitted run and the job would never start; without the unique link it could
start twice. Exactly one run, linked to both. And the same upstream run's outcome written by two writers at once
starts its follower once.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from history.models import Run, RunLink
from jobs.engine import results
from jobs.engine.chains import Ended, start_followers
from jobs.write import job_write
from tests.jobs.engine.execute_support import make_job, make_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
ROUNDS = 4


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...): SQLite lets one writer in at a time")


def _in_threads(*bodies) -> None:
    errors: list[BaseException] = []

    def wrap(body):
        def run() -> None:
            try:
                body()
            except BaseException as exc:  # reported by the test, not lost in the thread
                errors.append(exc)
            finally:
                connections.close_all()

        return run

    threads = [threading.Thread(target=wrap(body)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors


def test_two_executors_ending_both_upstreams_at_once_start_the_fan_in_once(team, target, monkeypatch):
    from jobs.engine.execute import execute_runs

    a, b = make_job(team, target.url("/ok"), natural_id="a"), make_job(team, target.url("/ok"), natural_id="b")
    c = job_write(
        team=team,
        fields={
            "natural_id": "c",
            "schedule_kind": "none",
            "after": [{"job": "a"}, {"job": "b"}],
            "after_all": True,
            "after_within_seconds": 1800,
        },
        steps=[{"name": "main", "config": {"url": target.url("/ok")}}],
    )
    barrier = threading.Barrier(2, timeout=20)
    real = results.start_followers

    def together(ended, now):
        ended = list(ended)
        if ended:  # the writes that end a run: both writers get here with their end recorded, uncommitted
            barrier.wait()
        return real(ended, now)

    monkeypatch.setattr(results, "start_followers", together)
    for _ in range(ROUNDS):
        runs = [make_run(a), make_run(b)]
        _in_threads(*(lambda run=run: execute_runs([str(run.pk)]) for run in runs))
        assert {run.end_reason for run in Run.objects.filter(pk__in=[r.pk for r in runs])} == {"success"}
        barrier.reset()
    started = list(Run.objects.filter(job=c, triggered_by=Run.Trigger.CHAIN))
    assert len(started) == ROUNDS
    for run in started:
        assert set(RunLink.objects.filter(run=run).values_list("upstream_job__natural_id", flat=True)) == {"a", "b"}
    assert RunLink.objects.filter(job=c).values("upstream_id").distinct().count() == 2 * ROUNDS


def test_one_outcome_written_by_two_writers_at_once_starts_its_follower_once(team, target):
    upstream = make_job(team, target.url("/ok"), natural_id="import")
    report = job_write(
        team=team,
        fields={"natural_id": "report", "schedule_kind": "none", "after": [{"job": "import"}]},
        steps=[{"name": "main", "config": {"url": target.url("/ok")}}],
    )
    run = make_run(upstream)
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(status="ended", end_reason="success", finished_at=now)
    barrier = threading.Barrier(2, timeout=20)
    started: list[int] = []

    def write() -> None:
        with transaction.atomic():
            barrier.wait()
            started.append(len(start_followers([Ended(run.pk, upstream.pk, "success", now)], now)))

    _in_threads(write, write)
    assert sorted(started) == [0, 1]
    assert Run.objects.filter(job=report, triggered_by=Run.Trigger.CHAIN).count() == 1
