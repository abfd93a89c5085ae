"""The anomaly checks cost the result writer one read and one upsert per batch, whatever its size, and
nothing for a batch without a successful run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from history.models import RunBaseline
from jobs.engine import staging
from jobs.engine.baselines import assess_batch
from jobs.engine.definitions import JobCache
from jobs.engine.plans import RunOutcome, StepResult
from jobs.engine.results import RunWrite, _ended_row
from tests.jobs.engine.execute_support import make_job, make_run

pytestmark = pytest.mark.django_db


def _writes(runs, end_reason: str, duration_ms: int) -> tuple[list[RunWrite], dict]:
    rows = staging._load([str(run.pk) for run in runs])
    jobs = JobCache().get_many({row["job_id"]: row["job__updated_at"] for row in rows})
    now = timezone.now()
    writes, ended = [], {}
    for row in rows:
        plan = staging.build_plan(row, jobs[row["job_id"]])
        main = StepResult(status="done" if end_reason == "success" else "error", response_bytes=100)
        outcome = RunOutcome(run_id=plan.run_id, end_reason=end_reason, finished_at=now, main=main)
        write = RunWrite(plan, now - timedelta(milliseconds=duration_ms), 0, now, {"main": main}, outcome)
        writes.append(write)
        ended[plan.run_id] = _ended_row(write, outcome)
    return writes, ended


def test_a_batch_of_many_jobs_reads_and_writes_baselines_once(team, django_assert_num_queries):
    runs = [make_run(make_job(team, f"https://example.com/{index}")) for index in range(30)]
    writes, rows = _writes(runs, "success", 5000)
    for run in runs[:10]:
        RunBaseline.objects.create(job_id=run.job_id, durations_ms=[20] * 10, updated_at=timezone.now())

    with django_assert_num_queries(2):
        warned = assess_batch(writes, rows, timezone.now())

    assert len(warned) == 10  # the ten jobs with a baseline: 5 s against 20 ms
    assert {w.kind for w in warned} == {"duration"}
    assert RunBaseline.objects.count() == 30
    assert all(rows[w.run_id]["warnings"] for w in warned)


def test_a_batch_without_a_successful_run_costs_no_query(team, django_assert_num_queries):
    runs = [make_run(make_job(team, f"https://example.com/{index}")) for index in range(5)]
    writes, rows = _writes(runs, "failed", 5000)
    with django_assert_num_queries(0):
        assert assess_batch(writes, rows, timezone.now()) == []
