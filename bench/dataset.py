"""Bulk-generated history for B3, B4 and B6: J jobs × R ended runs (one step each), in one team.

PostgreSQL gets the rows through COPY (text format, built here, about 15 s per million runs with
their steps); SQLite (the smoke runs) through executemany. The values are plausible and
deterministic (seeded): 90% successes, the rest failures, timeouts, crashes and blocks, spread
over the last week, each job on its own cadence.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.db import connection, transaction

from bench import common
from history.models import Run, RunStep
from history.rollups import rollups_rebuild
from jobs.models import ApiKey, Job, JobStep, Team
from jobs.services import apikey_create, member_set

MARKER_TABLE = "bench_dataset"
TEAM = "bench"
USER = "bench-admin"
SPAN = timedelta(days=7)
DEFAULT_RUNS = 1_000_000
# A job with this many runs in the week: its stats come from the hourly rollups (history.stats).
BUSY_JOB = "job-busy"
BUSY_RUNS = 100_000
SMOKE_BUSY_RUNS = 2_500  # past history.stats.EXACT_LIMIT, so the smoke runs take the rollups too
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
    busy_job: Job | None = None  # BUSY_JOB, when the dataset has one


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


def _run_rows(
    jobs: list[Job], runs_per_job: int, now: datetime, seed: int = 7
) -> Iterator[tuple[list[Any], list[Any]]]:
    rng = random.Random(seed)  # test data
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


# PostgreSQL: the same rows, made by the server from each job's natural ID and the run's number
# (no Python per row: 10M runs in minutes, where building COPY text took 30 µs a run). A hash of
# both stands in for the seeded generator; the outcomes keep OUTCOMES' weights.
_SERVER_RUNS = f"""
INSERT INTO {Run._meta.db_table} ({", ".join(RUN_COLUMNS)})
SELECT id, job_id, team_id, natural_id || '-' || to_char(slot AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS'), 'cron', 1, 0,
       'ended', reason, slot, slot - interval '900 ms', started, started + duration * interval '1 ms',
       slot - interval '1 s', duration, lateness, status, body, error, exit_code, false, '{{}}', '{{}}',
       jsonb_build_object('method', 'GET', 'url', 'https://example.com/hooks/' || natural_id,
                          'headers', jsonb_build_object('User-Agent', 'Hourglass/0.1'), 'body', '',
                          'timeout_ms', 30000),
       'bench'
FROM (
    SELECT *, slot + lateness * interval '1 ms' AS started,
           CASE WHEN reason = 'timeout' THEN 30000 ELSE 5 + (h >> 16) %% 896 END AS duration
    FROM (
        SELECT j.id AS job_id, j.team_id, j.natural_id, md5(j.natural_id || ':' || n)::uuid AS id,
               date_trunc('second', %(start)s::timestamptz
                   + ((j.position * 37) %% greatest(%(cadence)s::int, 1)) * interval '1 s'
                   + n * %(cadence_ms)s::bigint * interval '1 ms') AS slot,
               o.reason, o.status, o.exit_code, o.error, o.body,
               2 + (h >> 8) %% 79 AS lateness, h
        FROM (SELECT id, team_id, natural_id, row_number() OVER (ORDER BY natural_id) - 1 AS position
              FROM jobs_job WHERE id = ANY(%(job_ids)s::uuid[])) j
        CROSS JOIN generate_series(0, %(runs)s::int - 1) AS n
        CROSS JOIN LATERAL (SELECT abs(hashtextextended(j.natural_id || ':' || n, 7)) AS h) hashed
        CROSS JOIN LATERAL (
            SELECT * FROM (VALUES
                (0, 90, 'success', 200, 0, NULL, '{{"ok": true}}'),
                (90, 96, 'failed', 500, 1, 'HTTP 500 is not a success status', '{{"error": "upstream failed"}}'),
                (96, 98, 'timeout', NULL, 124, 'TimeoutError', NULL),
                (98, 99, 'crashed', NULL, NULL,
                 'Crashed: the worker stopped before the run finished (its lease expired).', NULL),
                (99, 100, 'blocked', NULL, 125, 'blocked: 10.0.0.8 is a private address', NULL)
            ) AS o(low, high, reason, status, exit_code, error, body)
            WHERE h %% 100 >= o.low AND h %% 100 < o.high
        ) o
    ) drawn
) runs
"""  # noqa: S608 - model names
_SERVER_STEPS = f"""
INSERT INTO {RunStep._meta.db_table} ({", ".join(STEP_COLUMNS)})
SELECT r.id, 'main', 'job:progress.invoking_job', 'http', '{{"name": "main"}}', '[]', 'on_success', 0,
       CASE WHEN r.end_reason = 'success' THEN 'done' ELSE 'error' END,
       CASE WHEN r.end_reason = 'success' THEN 'job:status.success' ELSE 'job:status.failed' END,
       CASE WHEN r.http_status IS NOT NULL
            THEN 'GET ' || (r.request ->> 'url') || ' returned ' || r.http_status || ' in ' || r.duration_ms || ' ms'
            ELSE 'GET ' || (r.request ->> 'url') || ' failed: ' || r.error END,
       r.exit_code, r.http_status, r.response_body, r.error, r.started_at, r.finished_at, r.duration_ms
FROM {Run._meta.db_table} r WHERE r.job_id = ANY(%(job_ids)s::uuid[])
"""  # noqa: S608 - model names
# Plain indexes are dropped for the load and built again after it: maintaining them (three of
# them trigram GIN) row by row took most of the time. Unique ones (constraints) stay.
_LOADED_TABLES = (Run._meta.db_table, RunStep._meta.db_table)


def _insert_in_server(groups: list[tuple[list[Job], int]], start: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = ANY(%s) AND NOT EXISTS ("
            "SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            [list(_LOADED_TABLES)],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        # The rows are consistent by construction: skip the foreign-key triggers for the load.
        cursor.execute("SET LOCAL session_replication_role = replica")
        for jobs, runs_per_job in groups:
            cadence = SPAN / runs_per_job
            params: dict[str, Any] = {
                "job_ids": [job.pk for job in jobs],
                "runs": runs_per_job,
                "start": start,
                "cadence": max(int(cadence.total_seconds()), 1),
                "cadence_ms": int(cadence.total_seconds() * 1000),
            }
            cursor.execute(_SERVER_RUNS, params)
            cursor.execute(_SERVER_STEPS, params)
        cursor.execute("SET LOCAL session_replication_role = origin")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)


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


def _job(team: Team, natural_id: str, name: str, keep_runs: int, now: datetime) -> Job:
    return Job(
        team=team,
        natural_id=natural_id,
        name=name,
        schedule_kind=Job.Kind.CRON,
        cron_expression="*/5 * * * *",
        enabled=True,
        next_run_at=now + timedelta(days=365),  # never due while the benchmarks run
        keep_runs=keep_runs,
    )


def generate(jobs: int, runs_per_job: int, *, keep_runs: int = 100, busy_runs: int = 0) -> None:
    """Replace every job and run with `jobs` jobs of `runs_per_job` ended runs each, and with
    `busy_runs`, one more job (BUSY_JOB) with that many runs in the week and their hourly rollups."""
    common.clear_jobs()
    team = common.bench_team(TEAM)
    now = datetime.now(UTC).replace(microsecond=0)
    job_rows = [_job(team, f"job-{index:05d}", f"Nightly sync {index:05d}", keep_runs, now) for index in range(jobs)]
    busy = [_job(team, BUSY_JOB, "Busy sync", busy_runs, now)] if busy_runs else []
    groups = [(job_rows, runs_per_job)] + ([(busy, busy_runs)] if busy else [])
    with transaction.atomic():
        Job.objects.bulk_create(job_rows + busy, batch_size=2000)
        JobStep.objects.bulk_create(
            [
                JobStep(
                    job=job,
                    name="main",
                    config={"method": "GET", "url": f"https://example.com/hooks/{job.natural_id}", "timeout_ms": 30000},
                )
                for job in job_rows + busy
            ],
            batch_size=2000,
        )
        if connection.vendor == "postgresql":
            _insert_in_server(groups, now - SPAN)
        else:
            for seed, (group, runs) in enumerate(groups, start=7):
                _insert_sqlite(_run_rows(group, runs, now, seed))
    common.analyze("history_run", "history_runstep", "jobs_job", "jobs_jobstep")
    if busy:
        rollups_rebuild(since=now - SPAN - timedelta(hours=1), job_ids=[busy[0].pk])


def ensure(ctx: common.Context, jobs: int, runs_per_job: int, *, busy_runs: int = 0) -> Dataset:
    """The dataset, generated unless the (PostgreSQL) database already holds exactly this one."""
    spec = f"jobs={jobs} runs_per_job={runs_per_job} busy_runs={busy_runs} v2"
    reuse = (
        connection.vendor == "postgresql"
        and not ctx.smoke
        and _marker() == spec
        and Run.objects.count() == jobs * runs_per_job + busy_runs
    )
    if not reuse:
        ctx.log(f"generating {jobs:,} jobs × {runs_per_job} runs" + (f" and one of {busy_runs:,}" if busy_runs else ""))
        started = time.monotonic()
        generate(jobs, runs_per_job, busy_runs=busy_runs)
        ctx.log(f"generated in {time.monotonic() - started:.0f} s")
        if connection.vendor == "postgresql" and not ctx.smoke:
            _marker(spec)
    team, user, key = _people()
    first = cast(Job, Job.objects.filter(team=team).order_by("natural_id").first())  # generate() made `jobs` of them
    busy = Job.objects.filter(team=team, natural_id=BUSY_JOB).first() if busy_runs else None
    return Dataset(team, user, key, jobs, runs_per_job, first, busy)


def history_dataset(ctx: common.Context, smoke_jobs: int) -> Dataset:
    """B3's and B6's dataset: ctx.runs runs (1M by default) over jobs of 100, plus the busy job."""
    if ctx.smoke:
        return ensure(ctx, smoke_jobs, 10, busy_runs=SMOKE_BUSY_RUNS)
    return ensure(ctx, (ctx.runs or DEFAULT_RUNS) // 100, 100, busy_runs=BUSY_RUNS)
