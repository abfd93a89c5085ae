"""Jobs for the end-to-end tests, built directly so each test controls its schedule to the second."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from history.models import Run
from jobs.models import Job, Team
from tests.factories import JobFactory


def whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def http_job(team: Team, url: str, *, timeout_ms: int = 5000, **fields: Any) -> Job:
    job = JobFactory(team=team, url=url, **fields)
    job.steps.filter(name="main").update(
        config={"method": "GET", "url": url, "headers": {}, "body": "", "timeout_ms": timeout_ms}
    )
    return job


def once_job(team: Team, url: str, *, in_seconds: float = 1.0, **fields: Any) -> Job:
    """A one-off job due `in_seconds` from now (on a whole second)."""
    at = whole_second(timezone.now() + timedelta(seconds=in_seconds + 1))
    return http_job(team, url, schedule_kind="once", cron_expression="", run_at=at, next_run_at=at, **fields)


def interval_job(team: Team, url: str, seconds: int, **fields: Any) -> Job:
    """An interval job whose first slot is the next whole second."""
    first = whole_second(timezone.now()) + timedelta(seconds=1)
    fields.setdefault("next_run_at", first)
    return http_job(
        team, url, schedule_kind="interval", cron_expression="", interval_seconds=seconds, run_at=first, **fields
    )


def runs_of(job: Job, **filters: Any) -> list[Run]:
    return list(Run.objects.filter(job=job, **filters).order_by("scheduled_for", "attempt"))


def stop_scheduling(job: Job) -> None:
    """No further slots. The job stays enabled: pausing it would end a run the look-ahead had
    already queued as `stopped` (the paused-job rule), which tests counting outcomes then trip on."""
    Job.objects.filter(pk=job.pk).update(next_run_at=None)


def pool_pids(main_pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == main_pid:
            children.append(int(stat.parent.name))
    return children
