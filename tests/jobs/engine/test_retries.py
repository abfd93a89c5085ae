from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from history.models import Run
from jobs.engine.retries import MAX_BACKOFF_SECONDS, backoff_seconds, is_retryable, parse_retry_after, schedule_retry
from tests.factories import JobFactory

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class Highest:
    """An rng that always picks the top of the range, to see the exponential ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_exponential_backoff_is_full_jitter_under_a_doubling_ceiling():
    assert [backoff_seconds("exponential", 10, n, rng=Highest()) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    rng = random.Random(7)  # noqa: S311 - jitter, not cryptography
    delays = [backoff_seconds("exponential", 10, 3, rng=rng) for _ in range(200)]
    assert all(0 <= d <= 40 for d in delays)
    assert min(delays) < 10
    assert max(delays) > 30
    assert backoff_seconds("exponential", 10, 50, rng=Highest()) == MAX_BACKOFF_SECONDS


def test_linear_and_constant_backoff():
    assert [backoff_seconds("linear", 5, n) for n in (1, 2, 3)] == [5, 10, 15]
    assert [backoff_seconds("constant", 5, n) for n in (1, 2, 3)] == [5, 5, 5]
    assert backoff_seconds("linear", 600, 10) == MAX_BACKOFF_SECONDS


def test_retry_after_wins_and_is_capped():
    assert backoff_seconds("constant", 5, 1, retry_after="120") == 120
    assert backoff_seconds("constant", 5, 1, retry_after="999999") == MAX_BACKOFF_SECONDS
    assert backoff_seconds("constant", 5, 1, retry_after="not a date") == 5


def test_it_reads_retry_after_as_an_http_date():
    when = format_datetime(NOW + timedelta(seconds=90), usegmt=True)

    assert parse_retry_after(when, now=NOW) == 90
    assert parse_retry_after(format_datetime(NOW - timedelta(seconds=5), usegmt=True), now=NOW) == 0


def test_only_transient_failures_retry():
    assert is_retryable(http_status=None, failure="timeout")
    assert is_retryable(http_status=None, failure="connection")
    assert is_retryable(http_status=500, failure="status")
    assert is_retryable(http_status=429, failure="status")
    assert not is_retryable(http_status=404, failure="status")
    assert not is_retryable(http_status=None, failure="blocked")
    assert not is_retryable(http_status=200, failure="status")  # a body mismatch


@pytest.mark.django_db
def test_schedule_retry_inserts_the_next_attempt_once():
    job = JobFactory(retry_limit=2, backoff_strategy="linear", backoff_base_seconds=30)
    run = Run.objects.create(
        job=job, team=job.team, scheduled_for=NOW, status="ended", end_reason="crashed", variables={"a": 1}
    )

    retry = schedule_retry(run, NOW)
    again = schedule_retry(run, NOW)  # e.g. the reaper and the executor both try

    assert retry is not None
    assert again is not None
    stored = Run.objects.get(retry_of=run)
    assert (stored.attempt, stored.status, stored.not_before, stored.variables) == (
        2,
        "pending",
        NOW + timedelta(seconds=30),
        {"a": 1},
    )
    assert (stored.backoff_limit, stored.scheduled_for, stored.triggered_by) == (2, NOW, run.triggered_by)


@pytest.mark.django_db
def test_schedule_retry_returns_none_when_attempts_are_exhausted():
    job = JobFactory(retry_limit=1)
    run = Run.objects.create(job=job, team=job.team, scheduled_for=NOW, attempt=2, status="ended")

    assert schedule_retry(run, NOW) is None
    assert not Run.objects.filter(retry_of=run).exists()
