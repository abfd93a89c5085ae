from __future__ import annotations

import pytest

from history.models import Run, RunStep
from jobs.engine.execute import execute_runs
from tests.jobs.engine.execute_support import make_job, make_run


@pytest.mark.django_db(transaction=True)
def test_it_ignores_a_duplicate_message(team, target):
    run = make_run(make_job(team, target.url("/ok")))

    execute_runs([str(run.pk)])
    execute_runs([str(run.pk)])
    execute_runs([str(run.pk), str(run.pk)])

    assert len(target.received("/ok")) == 1
    assert RunStep.objects.filter(run=run).count() == 1
    run.refresh_from_db()
    assert run.end_reason == "success"


@pytest.mark.django_db(transaction=True)
def test_it_leaves_a_run_claimed_elsewhere_alone(team, target):
    run = make_run(make_job(team, target.url("/ok")))
    Run.objects.filter(pk=run.pk).update(status="running", worker="another-worker")

    execute_runs([str(run.pk)])

    run.refresh_from_db()
    assert (run.status, run.worker) == ("running", "another-worker")
    assert target.received("/ok") == []


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_whole_batch_concurrently(team, target):
    runs = [make_run(make_job(team, target.url("/delay/400"))) for _ in range(10)]

    execute_runs([str(run.pk) for run in runs])

    ended = Run.objects.filter(pk__in=[run.pk for run in runs])
    assert {run.end_reason for run in ended} == {"success"}
    starts = sorted(run.started_at for run in ended)
    finishes = sorted(run.finished_at for run in ended)
    assert (finishes[-1] - starts[0]).total_seconds() < 2.5  # ten 400 ms requests, not one after another


@pytest.mark.django_db(transaction=True)
def test_it_skips_malformed_ids_and_runs_the_rest(team, target):
    run = make_run(make_job(team, target.url("/ok")))

    execute_runs(["not-a-uuid", str(run.pk)])

    run.refresh_from_db()
    assert run.end_reason == "success"
