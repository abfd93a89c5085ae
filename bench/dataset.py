"""Bulk-generated history for B3, B4 and B6: J jobs × R ended runs (one step each), in one team.

PostgreSQL gets the rows through COPY (text format, built here, about 15 s per million runs with
their steps); SQLite (the smoke runs) through executemany. The values are plausible and
deterministic (seeded): 90% successes, the rest failures, timeouts, crashes and blocks, spread
over the last week, each job on its own cadence.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction

from bench import common
from history.models import Run, RunStep
from jobs.models import ApiKey, Job, JobStep, Team
from jobs.services import apikey_create, member_set

MARKER_TABLE = "bench_dataset"
TEAM = "bench"
USER = "bench-admin"
SPAN = timedelta(days=7)
RUN_COLUMNS = (
    "id job_id team_id run_name triggered_by attempt backoff_limit status end_reason scheduled_for created_at "
    "started_at finished_at published_at duration_ms lateness_ms http_status response_body error exit_code "
    "warnings variables data request worker"
).split()
STEP_COLUMNS = (
    "run_id name key kind opts depends_on run_if position status result_key message exit_code http_status "
    "response_body error started_at finished_at duration_ms"
).split()
OUTCOMES = [  # (end_reason, weight, http_status, exit_code, step status, error)
    ("success", 90, 200, 0, "done", None),
    ("failed", 6, 500, 1, "error", "HTTP 500 is not a success status"),
    ("timeout", 2, None, 124, "error", "TimeoutError"),
    ("crashed", 1, None, None, "error", "Crashed: the worker stopped before the run finished (its lease expired)."),
    ("blocked", 1, None, 125, "error", "blocked: 10.0.0.8 is a private address"),
]


@dataclass
class Dataset:
    team: Team
    user: Any
    key: str  # a Bearer key with job:read in the team
    jobs: int
    runs_per_job: int
    first_job: Job


def _marker(spec: str | None = None) -> str | None:
    """Read (or with `spec`, write) which dataset the database holds. PostgreSQL only."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (id int PRIMARY KEY, spec text NOT NULL)")
        if spec is None:
            cursor.execute(f"SELECT spec FROM {MARKER_TABLE} WHERE id = 1")  # noqa: S608
            row = cursor.fetchone()
            return row[0] if row else None
        cursor.execute(f"DELETE FROM {MARKER_TABLE}")  # noqa: S608
        cursor.execute(f"INSERT INTO {MARKER_TABLE} (id, spec) VALUES (1, %s)", [spec])  # noqa: S608
        return spec


def forget() -> None:
    """The runs were changed (B4 prunes them): the next user regenerates."""
    if connection.vendor == "postgresql":
        _marker("")


def _people() -> tuple[Team, Any, str]:
    team = common.bench_team(TEAM)
    membership = member_set(team=team, username=USER, role="admin")
    ApiKey.objects.filter(team=team, name="bench").delete()
    _, raw = apikey_create(team=team, name="bench", scopes=["job:read"], created_by=membership.user)
    return team, membership.user, raw


def _run_rows(jobs: list[Job], runs_per_job: int, now: datetime) -> Iterator[tuple[list[Any], list[Any]]]:
    rng = random.Random(7)
    reasons = [outcome for outcome in OUTCOMES for _ in range(outcome[1])]
    start = now - SPAN
    cadence = SPAN / runs_per_job
    for index, job in enumerate(jobs):
        offset = timedelta(seconds=(index * 37) % max(int(cadence.total_seconds()), 1))
        url = f"https://example.com/hooks/{job.natural_id}"
        request = json.dumps(
            {"method": "GET", "url": url, "headers": {"User-Agent": "Hourglass/0.1"}, "body": "", "timeout_ms": 30000}
        )
        for number in range(runs_per_job):
            slot = (start + offset + cadence * number).replace(microsecond=0)
            reason, _, status, exit_code, step_status, error = rng.choice(reasons)
            lateness = rng.randint(2, 80)
            started = slot + timedelta(milliseconds=lateness)
            duration = rng.randint(5, 900) if reason != "timeout" else 30000
            finished = started + timedelta(milliseconds=duration)
            body = '{"ok": true}' if status == 200 else ('{"error": "upstream failed"}' if status else None)
            run_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            message = f"GET {url} returned {status} in {duration} ms" if status else f"GET {url} failed: {error}"
            yield (
                [
                    run_id, job.pk, job.team_id, f"{job.natural_id}-{slot:%Y%m%d%H%M%S}", "cron", 1, 0, "ended",
                    reason, slot, slot - timedelta(milliseconds=900), started, finished, slot - timedelta(seconds=1),
                    duration, lateness, status, body, error, exit_code, False, "{}", "{}", request, "bench",
                ],
                [
                    run_id, "main", "job:progress.invoking_job", "http", '{"name": "main"}', "[]", "on_success", 0,
                    step_status, f"job:status.{'success' if step_status == 'done' else 'failed'}", message,
                    exit_code, status, body, error, started, finished, duration,
                ],
            )  # fmt: skip


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _insert_postgresql(rows: Iterator[tuple[list[Any], list[Any]]]) -> None:
    raw = connection.connection  # psycopg's own connection: COPY
    steps: list[str] = []
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {Run._meta.db_table} ({', '.join(RUN_COLUMNS)}) FROM STDIN") as copy:
            buffer: list[str] = []
            for run, step in rows:
                buffer.append("\t".join(map(_copy_text, run)))
                steps.append("\t".join(map(_copy_text, step)))
                if len(buffer) >= 20000:
                    copy.write("\n".join(buffer) + "\n")
                    buffer.clear()
            if buffer:
                copy.write("\n".join(buffer) + "\n")
        with cursor.copy(f"COPY {RunStep._meta.db_table} ({', '.join(STEP_COLUMNS)}) FROM STDIN") as copy:
            for start in range(0, len(steps), 20000):
                copy.write("\n".join(steps[start : start + 20000]) + "\n")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return value


def _insert_sqlite(rows: Iterator[tuple[list[Any], list[Any]]]) -> None:
    runs, steps = [], []
    for run, step in rows:
        runs.append([_sqlite_value(value) for value in run])
        steps.append([_sqlite_value(value) for value in step])
    marks = ", ".join(["%s"] * len(RUN_COLUMNS))
    step_marks = ", ".join(["%s"] * len(STEP_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Run._meta.db_table} ({', '.join(RUN_COLUMNS)}) VALUES ({marks})",  # noqa: S608
            runs,
        )
        cursor.executemany(
            f"INSERT INTO {RunStep._meta.db_table} ({', '.join(STEP_COLUMNS)}) VALUES ({step_marks})",  # noqa: S608
            steps,
        )


def generate(jobs: int, runs_per_job: int, *, keep_runs: int = 100) -> None:
    """Replace every job and run with `jobs` jobs of `runs_per_job` ended runs each."""
    common.clear_jobs()
    team = common.bench_team(TEAM)
    now = datetime.now(UTC).replace(microsecond=0)
    job_rows = [
        Job(
            team=team,
            natural_id=f"job-{index:05d}",
            name=f"Nightly sync {index:05d}",
            schedule_kind=Job.Kind.CRON,
            cron_expression="*/5 * * * *",
            enabled=True,
            next_run_at=now + timedelta(days=365),  # never due while the benchmarks run
            keep_runs=keep_runs,
        )
        for index in range(jobs)
    ]
    with transaction.atomic():
        Job.objects.bulk_create(job_rows, batch_size=2000)
        JobStep.objects.bulk_create(
            [
                JobStep(
                    job=job,
                    name="main",
                    config={"method": "GET", "url": f"https://example.com/hooks/{job.natural_id}", "timeout_ms": 30000},
                )
                for job in job_rows
            ],
            batch_size=2000,
        )
        rows = _run_rows(job_rows, runs_per_job, now)
        if connection.vendor == "postgresql":
            _insert_postgresql(rows)
        else:
            _insert_sqlite(rows)
    common.analyze("history_run", "history_runstep", "jobs_job", "jobs_jobstep")


def ensure(ctx: common.Context, jobs: int, runs_per_job: int) -> Dataset:
    """The dataset, generated unless the (PostgreSQL) database already holds exactly this one."""
    spec = f"jobs={jobs} runs_per_job={runs_per_job} v1"
    reuse = (
        connection.vendor == "postgresql"
        and not ctx.smoke
        and _marker() == spec
        and Run.objects.count() == jobs * runs_per_job
    )
    if not reuse:
        ctx.log(f"generating {jobs:,} jobs × {runs_per_job} runs")
        generate(jobs, runs_per_job)
        if connection.vendor == "postgresql" and not ctx.smoke:
            _marker(spec)
    team, user, key = _people()
    first = Job.objects.filter(team=team).order_by("natural_id").first()
    return Dataset(team, user, key, jobs, runs_per_job, first)
