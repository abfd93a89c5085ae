"""Helpers for the dispatcher and reaper tests: a recording publisher and jobs on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.models import Job, Team
from tests.factories import JobFactory

T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Published:
    """A publisher that records each batch instead of sending it."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, run_ids: list[str]) -> None:
        self.batches.append(list(run_ids))

    @property
    def run_ids(self) -> list[str]:
        return [run_id for ids in self.batches for run_id in ids]


def interval_job(team: Team, seconds: int, *, next_run_at: datetime = T0, **fields: Any) -> Job:
    """An interval job anchored on T0 (slots T0 + k*seconds), next due at `next_run_at`."""
    return JobFactory(
        team=team,
        schedule_kind=Job.Kind.INTERVAL,
        cron_expression="",
        interval_seconds=seconds,
        run_at=T0,
        next_run_at=next_run_at,
        **fields,
    )
