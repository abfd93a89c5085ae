"""run_recent_by_job: each job's newest N runs, oldest first, equal to a brute-force answer on either database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from history.models import Run
from history.selectors import run_recent_by_job
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_each_jobs_newest_runs_oldest_first(team):
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    base = datetime(2026, 11, 1, tzinfo=UTC)
    jobs = [JobFactory(team=team, natural_id=f"j{index}") for index in range(4)]
    rows = []
    for job, count in zip(jobs, (0, 3, 25, 40), strict=True):
        for index in range(count):
            # Some runs share a created_at, so the id breaks the tie as in the history order.
            created = base + timedelta(seconds=rng.randrange(0, 30))
            rows.append(
                Run(job=job, team=team, scheduled_for=base + timedelta(minutes=index), attempt=1, created_at=created)
            )
    Run.objects.bulk_create(rows)
    for row in rows:  # created_at is auto_now_add: set it as generated
        Run.objects.filter(pk=row.pk).update(created_at=row.created_at)

    with CaptureQueriesContext(connection) as queries:
        recent = run_recent_by_job(job_ids=[job.pk for job in jobs], per_job=20)
        shown = {
            job_id: [(run.pk, run.created_at, run.status, run.duration_ms) for run in runs]
            for job_id, runs in recent.items()
        }
    assert len(queries) == 1  # the fields the charts read are loaded, nothing deferred is touched

    for job in jobs:
        everything = sorted(Run.objects.filter(job=job), key=lambda run: (run.created_at, run.pk), reverse=True)
        expected = [run.pk for run in reversed(everything[:20])]
        assert [pk for pk, *_ in shown[job.pk]] == expected
    assert run_recent_by_job(job_ids=[], per_job=20) == {}
