"""Retry policy: which failures retry, how long to wait, and the next attempt's row.

The executor calls these for failed runs and the reaper for crashed ones. A retry is a new Run
row (attempt+1, retry_of, not_before); the dispatcher publishes it once not_before has passed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from history.models import Run
from jobs.engine.plans import RunPlan

MAX_BACKOFF_SECONDS = 3600.0
# Failure kinds (as the executor classifies them) that a retry can plausibly fix.
RETRYABLE_FAILURES = frozenset({"timeout", "connection", "crashed"})


class _Uniform(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


def is_retryable(*, http_status: int | None, failure: str | None) -> bool:
    """Connection errors, timeouts, 5xx and 429 retry; a blocked target or a 4xx never does."""
    if failure in RETRYABLE_FAILURES:
        return True
    return failure == "status" and http_status is not None and (http_status >= 500 or http_status == 429)


def parse_retry_after(value: str | float | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or an HTTP date); None if unusable."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value))
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    reference = now or datetime.now(tz=when.tzinfo)
    return max(0.0, (when - reference).total_seconds())


def backoff_seconds(
    strategy: str,
    base_seconds: float,
    attempt: int,
    retry_after: str | float | None = None,
    rng: _Uniform = random,
) -> float:
    """Delay before the attempt after `attempt` (the one that failed, from 1); capped at an hour.

    A usable Retry-After from the target wins over the strategy.
    """
    waited = parse_retry_after(retry_after)
    if waited is not None:
        return min(waited, MAX_BACKOFF_SECONDS)
    base = max(0.0, float(base_seconds))
    attempt = max(1, attempt)
    if strategy == "constant":
        return min(base, MAX_BACKOFF_SECONDS)
    if strategy == "linear":
        return min(base * attempt, MAX_BACKOFF_SECONDS)
    # Exponential with full jitter: spreads the retries of many jobs failing together.
    ceiling = min(base * 2.0 ** min(attempt - 1, 64), MAX_BACKOFF_SECONDS)
    return rng.uniform(0.0, ceiling)


@dataclass(frozen=True)
class RetrySource:
    """The attempt that failed, as much of it as its retry needs."""

    run_id: Any
    job_id: Any
    team_id: int
    run_name: str
    triggered_by: str
    triggered_by_user_id: int | None
    attempt: int
    scheduled_for: datetime
    variables: Any
    retry_limit: int
    backoff_strategy: str
    backoff_base_seconds: int

    @classmethod
    def of_run(cls, run: Run) -> RetrySource:
        job = run.job
        return cls(
            run_id=run.pk,
            job_id=run.job_id,
            team_id=run.team_id,
            run_name=run.run_name,
            triggered_by=run.triggered_by,
            triggered_by_user_id=run.triggered_by_user_id,
            attempt=run.attempt,
            scheduled_for=run.scheduled_for,
            variables=run.variables,
            retry_limit=job.retry_limit,
            backoff_strategy=job.backoff_strategy,
            backoff_base_seconds=job.backoff_base_seconds,
        )

    @classmethod
    def of_plan(cls, plan: RunPlan) -> RetrySource:
        meta = plan.meta
        return cls(
            run_id=plan.run_id,
            job_id=plan.job_id,
            team_id=meta.team_id,
            run_name=meta.run_name,
            triggered_by=meta.triggered_by,
            triggered_by_user_id=meta.triggered_by_user_id,
            attempt=plan.attempt,
            scheduled_for=plan.scheduled_for,
            variables=dict(meta.variables),
            retry_limit=meta.retry_limit,
            backoff_strategy=meta.backoff_strategy,
            backoff_base_seconds=meta.backoff_base_seconds,
        )


def build_retry(source: RetrySource, now: datetime, retry_after: str | float | None = None) -> Run | None:
    """The unsaved next attempt, or None when the job's retry limit is used up."""
    if source.attempt > source.retry_limit:
        return None
    delay = backoff_seconds(source.backoff_strategy, source.backoff_base_seconds, source.attempt, retry_after)
    return Run(
        job_id=source.job_id,
        team_id=source.team_id,
        run_name=source.run_name,
        triggered_by=source.triggered_by,
        triggered_by_user_id=source.triggered_by_user_id,
        attempt=source.attempt + 1,
        retry_of_id=source.run_id,
        backoff_limit=source.retry_limit,
        status=Run.Status.PENDING,
        scheduled_for=source.scheduled_for,
        not_before=now + timedelta(seconds=delay),
        variables=source.variables,
    )


def schedule_retries(failed: Iterable[tuple[RetrySource, str | float | None]], now: datetime) -> list[Run]:
    """Insert the next attempt of each (failed attempt, retry_after) that may retry; returns the new rows.

    ignore_conflicts: if another process already inserted that attempt, the unique
    (job, scheduled_for, attempt) keeps a single row.
    """
    retries = [retry for source, retry_after in failed if (retry := build_retry(source, now, retry_after)) is not None]
    if retries:
        Run.objects.bulk_create(retries, ignore_conflicts=True)
    return retries


def schedule_retry(run: Run, now: datetime, retry_after: str | float | None = None) -> Run | None:
    """Insert the next attempt of `run`; None when attempts are exhausted."""
    created = schedule_retries([(RetrySource.of_run(run), retry_after)], now)
    return created[0] if created else None
