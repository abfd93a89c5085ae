"""Per-job hourly rollups of ended runs, so a busy job's stats read hours, not runs.

Every path that ends runs (the engine's result writer, the dispatcher's skipped and missed
runs, the reaper, cancellation) hands them to `rollup_ended` in its own transaction: one
INSERT … ON CONFLICT DO UPDATE for the batch, one row per (job, hour of the run's end).

Durations and lateness go into a sketch: a sparse histogram of log-scale buckets, 8 per
doubling (bucket b > 0 holds the integers v with 2^((b-1)/8) <= v < 2^(b/8); bucket 0 holds
v < 1, so a negative lateness counts as 0). The counts are exact, so a nearest-rank
percentile always falls in the right bucket; reporting the bucket's geometric middle puts it
within 2^(1/16) - 1 = 4.4 % of the exact value (exact below 12 ms, where a bucket holds one
integer). See docs/benchmarks.md (B6) for how run_stats uses them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connections, router, transaction
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from history.models import Run, RunHourly
from jobs.engine.db import bound_cursor

BUCKETS_PER_OCTAVE = 8
# Rollups older than this go in the nightly prune; the longest stats window is 30 days.
KEEP_ROLLUPS = timedelta(days=35)
_CHUNK = 500  # rows per statement: well within both databases' parameter limits


@dataclass(frozen=True)
class Ended:
    """What a rollup needs of one ended run."""

    job_id: Any
    end_reason: str
    finished_at: datetime
    duration_ms: int | None = None
    lateness_ms: int | None = None


def bucket_of(value: int) -> int:
    if value < 1:
        return 0
    return math.floor(math.log2(value) * BUCKETS_PER_OCTAVE) + 1


def bucket_value(bucket: int) -> int:
    """The value a bucket stands for: its geometric middle, among the integers it holds."""
    if bucket <= 0:
        return 0
    low, high = 2 ** ((bucket - 1) / BUCKETS_PER_OCTAVE), 2 ** (bucket / BUCKETS_PER_OCTAVE)
    smallest, largest = math.ceil(low), max(math.ceil(high) - 1, math.ceil(low))
    return min(max(round(math.sqrt(low * high)), smallest), largest)


def hist_percentile(hist: dict[int, int], count: int, percent: int) -> int | None:
    """Nearest-rank percentile of `count` values summarised in `hist` ({bucket: count})."""
    if count == 0:
        return None
    rank, seen = max(math.ceil(percent / 100 * count), 1), 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    return bucket_value(max(hist))


def hist_merge(into: dict[int, int], other: dict[Any, int]) -> dict[int, int]:
    for bucket, count in other.items():
        into[int(bucket)] = into.get(int(bucket), 0) + count
    return into


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current


def _aggregate(runs: Iterable[Ended]) -> dict[tuple[Any, datetime], dict[str, Any]]:
    rows: dict[tuple[Any, datetime], dict[str, Any]] = {}
    for run in runs:
        key = (run.job_id, run.finished_at.replace(minute=0, second=0, microsecond=0))
        row = rows.get(key)
        if row is None:
            row = rows[key] = {
                "ended": 0,
                "succeeded": 0,
                "duration": {},
                "lateness": {},
                "success": None,
                "failure": None,
            }
        row["ended"] += 1
        if run.end_reason == Run.EndReason.SUCCESS:
            row["succeeded"] += 1
            row["success"] = _later(row["success"], run.finished_at)
        else:
            row["failure"] = _later(row["failure"], run.finished_at)
        if run.duration_ms is not None:
            durations, bucket = row["duration"], bucket_of(run.duration_ms)
            durations[bucket] = durations.get(bucket, 0) + 1
        if run.lateness_ms is not None:
            lateness, bucket = row["lateness"], bucket_of(run.lateness_ms)
            lateness[bucket] = lateness.get(bucket, 0) + 1
    return rows


_UPSERTS: dict[tuple[str, int], str] = {}


def _upsert_sql(connection: Any, rows: int) -> str:
    """One INSERT … ON CONFLICT for `rows` rollup rows (built once per vendor and size)."""
    cached = _UPSERTS.get((connection.vendor, rows))
    if cached is not None:
        return cached
    quote = connection.ops.quote_name
    table = quote(RunHourly._meta.db_table)
    json_value = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    values = f"(%s, %s, %s, %s, {json_value}, {json_value}, %s, %s)"

    def later(column: str) -> str:
        old, new = f"{table}.{column}", f"excluded.{column}"
        return f"{column} = CASE WHEN {old} IS NULL OR {new} > {old} THEN {new} ELSE {old} END"

    sql = _UPSERTS[(connection.vendor, rows)] = (
        f"INSERT INTO {table} (job_id, hour, ended, succeeded, duration_hist, lateness_hist, "  # noqa: S608 - names
        f"last_success_at, last_failure_at) VALUES {', '.join([values] * rows)} "
        "ON CONFLICT (job_id, hour) DO UPDATE SET "
        f"ended = {table}.ended + excluded.ended, succeeded = {table}.succeeded + excluded.succeeded, "
        f"duration_hist = hourglass_hist_add({table}.duration_hist, excluded.duration_hist), "
        f"lateness_hist = hourglass_hist_add({table}.lateness_hist, excluded.lateness_hist), "
        f"{later('last_success_at')}, {later('last_failure_at')}"
    )
    return sql


def _same(value: Any) -> Any:
    return value


def rollup_ended(runs: Iterable[Ended]) -> None:
    """Add ended runs to their jobs' hourly rollups, in the caller's transaction."""
    rows = _aggregate(runs)
    if not rows:
        return
    connection = connections[router.db_for_write(RunHourly)]
    if connection.vendor == "postgresql":  # psycopg takes UUIDs and aware datetimes as they are
        job_value, time_value = _same, _same
    else:
        job_value, time_value = _sqlite_uuid, connection.ops.adapt_datetimefield_value
    # Sorted, so two writers lock the same rows in the same order.
    keys = sorted(rows, key=lambda key: (str(key[0]), key[1]))
    with transaction.atomic(using=connection.alias), bound_cursor(connection) as cursor:
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            params: list[Any] = []
            for job_id, hour in chunk:
                row = rows[(job_id, hour)]
                params += [
                    job_value(job_id),
                    time_value(hour),
                    row["ended"],
                    row["succeeded"],
                    json.dumps(row["duration"]),
                    json.dumps(row["lateness"]),
                    time_value(row["success"]),
                    time_value(row["failure"]),
                ]
            cursor.execute(_upsert_sql(connection, len(chunk)), params)


def _sqlite_uuid(value: Any) -> str:
    return UUID(str(value)).hex


def rollups_prune(now: datetime, batch_size: int = 10_000) -> int:
    """Delete rollups past KEEP_ROLLUPS, a batch per short transaction; returns how many went."""
    old = RunHourly.objects.filter(hour__lt=now - KEEP_ROLLUPS).order_by("pk").values_list("pk", flat=True)
    deleted = 0
    while ids := list(old[:batch_size]):
        deleted += RunHourly.objects.filter(pk__in=ids).delete()[0]
    return deleted


def ended_of(runs: Iterable[Any], finished_at: datetime) -> list[Ended]:
    """Ended rows from Run instances or metrics.EndedRun records; `finished_at` where they carry none."""
    return [
        Ended(
            run.job_id,
            run.end_reason,
            getattr(run, "finished_at", None) or finished_at,
            getattr(run, "duration_ms", None),
            getattr(run, "lateness_ms", None),
        )
        for run in runs
    ]


def rollups_rebuild(*, since: datetime, job_ids: list[Any] | None = None) -> int:
    """Recompute the rollups of runs that ended since `since` from the runs themselves (backfill, bulk loads)."""
    runs = Run.objects.filter(status=Run.Status.ENDED, finished_at__gte=since)
    existing = RunHourly.objects.filter(hour__gte=_hour(since))
    if job_ids is not None:
        runs, existing = runs.filter(job_id__in=job_ids), existing.filter(job_id__in=job_ids)
    fields = ("job_id", "end_reason", "finished_at", "duration_ms", "lateness_ms")
    with transaction.atomic():
        existing.delete()
        batch: list[Ended] = []
        count = 0
        for values in runs.order_by().values_list(*fields).iterator(chunk_size=20_000):
            batch.append(Ended(*values))
            if len(batch) >= 20_000:
                rollup_ended(batch)
                count += len(batch)
                batch = []
        rollup_ended(batch)
    return count + len(batch)


def _hist_add(old: str | None, new: str | None) -> str:
    """SQLite's hourglass_hist_add (PostgreSQL's is a SQL function, see migration 0004)."""
    merged = hist_merge({}, json.loads(old or "{}"))
    return json.dumps(hist_merge(merged, json.loads(new or "{}")))


@receiver(connection_created, dispatch_uid="history_sqlite_functions")
def _sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("hourglass_hist_add", 2, _hist_add, deterministic=True)
