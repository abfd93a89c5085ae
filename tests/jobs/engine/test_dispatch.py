from datetime import timedelta
from uuid import UUID

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from history.models import Run
from jobs.models import Job
from tests.factories import JobFactory, RunFactory
from tests.jobs.engine.dispatch_support import T0, at, interval_job

pytestmark = pytest.mark.django_db


def test_it_creates_a_pending_run_for_a_due_slot_and_advances_the_job(team, published, tick):
    job = interval_job(team, 60, retry_limit=2)
    now = at(-0.4)

    assert tick(now) == 1

    run = Run.objects.get(job=job)
    assert (run.status, run.attempt, run.triggered_by, run.scheduled_for) == ("pending", 1, "cron", T0)
    assert (run.backoff_limit, run.variables, run.published_at) == (2, {}, now)
    assert run.run_name == f"{job.natural_id}-20260105120000"
    job.refresh_from_db()
    assert job.next_run_at == at(60)
    assert published.batches == [[str(run.pk)]]


def test_it_creates_nothing_the_second_time(team, published, tick):
    interval_job(team, 60)
    assert tick(at(-0.4)) == 1
    assert tick(at(-0.4)) == 0
    assert tick(at(0.3)) == 0
    assert Run.objects.count() == 1
    assert len(published.run_ids) == 1


def test_it_leaves_slots_beyond_the_lookahead(team, published, tick):
    job = interval_job(team, 60)
    assert tick(at(-1.5)) == 0
    job.refresh_from_db()
    assert job.next_run_at == T0
    assert published.batches == []


def test_it_fires_every_slot_within_the_lookahead(team, published, tick):
    job = interval_job(team, 1)
    assert tick(T0) == 2  # T0 and T0+1 s (look-ahead 1 s)
    assert sorted(Run.objects.values_list("scheduled_for", flat=True)) == [T0, at(1)]
    job.refresh_from_db()
    assert job.next_run_at == at(2)
    in_slot_order = Run.objects.order_by("scheduled_for").values_list("pk", flat=True)
    assert published.batches == [[str(pk) for pk in in_slot_order]]  # one message; the engine waits for each slot


def test_it_disables_a_one_off_job_after_it_fires(team, published, tick):
    job = JobFactory(team=team, schedule_kind=Job.Kind.ONCE, cron_expression="", run_at=T0, next_run_at=T0)
    assert tick(at(-0.5)) == 1
    job.refresh_from_db()
    assert (job.enabled, job.next_run_at) == (False, None)
    assert tick(at(5)) == 0


def test_it_ignores_disabled_jobs(team, published, tick):
    interval_job(team, 60, enabled=False)
    assert tick(T0) == 0


def test_it_publishes_batches_of_at_most_100_runs_in_slot_order(team, published, tick, settings):
    settings.HOURGLASS_DISPATCH_LOOKAHEAD_MS = 2000
    for _ in range(230):
        interval_job(team, 60)
    for _ in range(30):
        interval_job(team, 60, next_run_at=at(1))

    assert tick(at(-0.2)) == 260

    assert [len(ids) for ids in published.batches] == [100, 100, 60]
    slots = dict(Run.objects.values_list("pk", "scheduled_for"))
    published_slots = [slots[UUID(run_id)] for run_id in published.run_ids]
    assert published_slots == sorted(published_slots)
    assert len(published_slots) == 260


def test_it_claims_due_jobs_in_chunks(team, published, tick):
    jobs = [interval_job(team, 60) for _ in range(20)]
    assert tick(at(-0.2), chunk_size=7) == 20
    assert Job.objects.filter(pk__in=[j.pk for j in jobs], next_run_at=at(60)).count() == 20


def test_it_never_creates_a_second_run_for_a_slot_even_if_next_run_at_goes_back(team, published, tick):
    job = interval_job(team, 60)
    RunFactory(job=job, scheduled_for=T0, status="pending")  # e.g. a job edit wrote back a stale next_run_at

    assert tick(at(-0.2)) == 0

    assert Run.objects.filter(job=job).count() == 1
    assert published.batches == []
    job.refresh_from_db()
    assert job.next_run_at == at(60)


def test_an_idle_tick_writes_nothing(team, published, tick):
    interval_job(team, 60, next_run_at=at(30))
    with CaptureQueriesContext(connection) as queries:
        assert tick(T0) == 0
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))]


def test_the_due_jobs_lookup_is_served_by_the_partial_index(team):
    interval_job(team, 60)
    query = Job.objects.filter(enabled=True, next_run_at__lte=T0 + timedelta(seconds=1)).order_by("next_run_at")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway
    assert "job_due_idx" in query[:1000].explain()
