from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from history.models import Run
from tests.jobs.engine.execute_support import execute, make_job, make_run, steps_of


@pytest.mark.django_db(transaction=True)
def test_it_fails_a_500_and_inserts_the_next_attempt(team, target):
    job = make_job(team, target.url("/status/500"), retry_limit=2, backoff_strategy="constant", backoff_base_seconds=7)
    before = timezone.now()
    run = execute(make_run(job))

    assert (run.status, run.end_reason, run.http_status, run.exit_code) == ("ended", "failed", 500, 1)
    assert run.error == "HTTP 500"
    assert steps_of(run)["main"].status == "error"
    retry = Run.objects.get(retry_of=run)
    assert (retry.attempt, retry.status, retry.backoff_limit) == (2, "pending", 2)
    assert (retry.job_id, retry.team_id, retry.scheduled_for) == (run.job_id, run.team_id, run.scheduled_for)
    assert before + timedelta(seconds=7) <= retry.not_before <= timezone.now() + timedelta(seconds=7)


@pytest.mark.django_db(transaction=True)
def test_it_stops_retrying_once_the_limit_is_used_up(team, target):
    job = make_job(team, target.url("/status/502"), retry_limit=2)
    run = execute(make_run(job, attempt=3))

    assert run.end_reason == "failed"
    assert not Run.objects.filter(retry_of=run).exists()


@pytest.mark.django_db(transaction=True)
def test_it_does_not_retry_a_client_error(team, target):
    run = execute(make_run(make_job(team, target.url("/status/404"), retry_limit=3)))

    assert (run.end_reason, run.error) == ("failed", "HTTP 404")
    assert not Run.objects.filter(retry_of=run).exists()


@pytest.mark.django_db(transaction=True)
def test_it_retries_a_429(team, target):
    run = execute(make_run(make_job(team, target.url("/status/429"), retry_limit=1)))

    assert run.error == "HTTP 429"
    assert Run.objects.get(retry_of=run).attempt == 2


@pytest.mark.django_db(transaction=True)
def test_it_honours_retry_after(team, target):
    # With exponential backoff from 10 s the wait would be at most 10 s; Retry-After says 120.
    job = make_job(team, target.url("/retry-after/120"), retry_limit=1, backoff_base_seconds=10)
    before = timezone.now()
    run = execute(make_run(job))

    assert (run.http_status, run.error) == (503, "HTTP 503")
    retry = Run.objects.get(retry_of=run)
    assert before + timedelta(seconds=120) <= retry.not_before <= timezone.now() + timedelta(seconds=120)


@pytest.mark.django_db(transaction=True)
def test_it_times_out_a_hanging_target(team, target):
    job = make_job(team, target.url("/hang"), retry_limit=1, main_config={"timeout_ms": 300})
    run = execute(make_run(job))

    assert (run.end_reason, run.exit_code, run.error, run.http_status) == ("timeout", 124, "TimeoutError", None)
    main = steps_of(run)["main"]
    assert (main.status, main.exit_code, main.result_key) == ("error", 124, "job:status.timeout")
    assert 300 <= main.duration_ms < 2000
    assert Run.objects.get(retry_of=run).attempt == 2


@pytest.mark.django_db(transaction=True)
def test_it_records_a_refused_connection(team, target, unused_port):
    job = make_job(team, f"http://127.0.0.1:{unused_port}/", retry_limit=1)
    run = execute(make_run(job))

    assert (run.end_reason, run.exit_code, run.error) == ("failed", 125, "ClientConnectorError")
    assert Run.objects.get(retry_of=run).attempt == 2


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_every_attempt_of_a_slot_sends_the_first_attempts_idempotency_key(team, target):
    job = make_job(team, target.url("/sequence/idem?codes=500,500,200"), retry_limit=2, backoff_base_seconds=0)
    first = execute(make_run(job))
    second = Run.objects.get(retry_of=first)
    Run.objects.filter(pk=second.pk).update(not_before=timezone.now())
    second = execute(second)
    third = execute(Run.objects.get(retry_of=second))

    assert [first.end_reason, second.end_reason, third.end_reason] == ["failed", "failed", "success"]
    keys = [r.headers["Idempotency-Key"] for r in target.received("/sequence/idem")]
    assert keys == [str(first.pk)] * 3
