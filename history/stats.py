"""A job's run stats over a window: counts, success rate, duration and lateness percentiles.

Up to EXACT_LIMIT runs ended in the window, they come from the runs themselves, exactly. A
busier job's come from its hourly rollups (history.rollups): a page view then reads one row
per hour of the window whatever the number of runs, and the percentiles are the sketch's
(within 4.4 %). The rollups' window starts at the hour `since` falls in, and counts each run
once it has ended, by the hour it ended in, including runs deleted since.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from history.models import Run, RunHourly
from history.rollups import hist_percentile
from jobs.models import Job

# Past this many ended runs in the window, exact percentiles cost more than a page view should.
EXACT_LIMIT = 2_000
# A quiet job's window is read in one query of at most this many rows, and counted in Python.
EXACT_FETCH = 10_000
SUCCEEDED = Q(status=Run.Status.ENDED, end_reason=Run.EndReason.SUCCESS)
FAILED = Q(status=Run.Status.ENDED) & ~Q(end_reason=Run.EndReason.SUCCESS)


def _percentile(queryset: QuerySet[Run], field: str, count: int, percent: int) -> int | None:
    """Nearest-rank percentile by one ORDER BY … OFFSET query, portable to SQLite."""
    if count == 0:
        return None
    rank = max(math.ceil(percent / 100 * count), 1)
    values = queryset.filter(**{f"{field}__isnull": False}).order_by(field).values_list(field, flat=True)
    return values[rank - 1]


def _nearest_rank(values: list[int], percent: int) -> int | None:
    if not values:
        return None
    return values[max(math.ceil(percent / 100 * len(values)), 1) - 1]


def _exact_stats(job: Job, since: datetime) -> dict[str, Any]:
    """The window's runs read once (a quiet job's are few) and counted here; the SQL way past EXACT_FETCH."""
    runs = Run.objects.filter(job=job, created_at__gte=since)
    rows = list(runs.order_by().values_list("status", "end_reason", "duration_ms", "lateness_ms")[: EXACT_FETCH + 1])
    if len(rows) > EXACT_FETCH:  # rollups missing for a busy job (runs loaded in bulk): count in the database
        return _exact_stats_in_sql(job, runs)
    ended_rows = [row for row in rows if row[0] == Run.Status.ENDED]
    succeeded = sum(1 for row in ended_rows if row[1] == Run.EndReason.SUCCESS)
    durations = sorted(row[2] for row in rows if row[2] is not None)
    lateness = sorted(row[3] for row in rows if row[3] is not None)
    return {
        "runs": len(rows),
        "ended": len(ended_rows),
        "succeeded": succeeded,
        "success_rate": round(succeeded / len(ended_rows), 4) if ended_rows else None,
        "duration_ms": {f"p{p}": _nearest_rank(durations, p) for p in (50, 95, 99)},
        "lateness_ms": {f"p{p}": _nearest_rank(lateness, p) for p in (50, 99)},
        **_last_times(job),
    }


def _last_times(job: Job) -> dict[str, datetime | None]:
    return Run.objects.filter(job=job).aggregate(
        last_success=Max("finished_at", filter=SUCCEEDED), last_failure=Max("finished_at", filter=FAILED)
    )


def _exact_stats_in_sql(job: Job, runs: QuerySet[Run]) -> dict[str, Any]:
    totals = runs.aggregate(
        runs=Count("pk"),
        ended=Count("pk", filter=Q(status=Run.Status.ENDED)),
        succeeded=Count("pk", filter=SUCCEEDED),
        timed=Count("duration_ms"),
        late=Count("lateness_ms"),
    )
    ended = totals["ended"]
    return {
        "runs": totals["runs"],
        "ended": ended,
        "succeeded": totals["succeeded"],
        "success_rate": round(totals["succeeded"] / ended, 4) if ended else None,
        "duration_ms": {f"p{p}": _percentile(runs, "duration_ms", totals["timed"], p) for p in (50, 95, 99)},
        "lateness_ms": {f"p{p}": _percentile(runs, "lateness_ms", totals["late"], p) for p in (50, 99)},
        **_last_times(job),
    }


def _newest_finish(job: Job, condition: Q) -> datetime | None:
    """Past the rollups' retention: the newest such run, walking the job's (job, -created_at) index."""
    newest = Run.objects.filter(condition, job=job).order_by("-created_at", "-id").values_list("finished_at")[:1]
    return next((row[0] for row in newest), None)


def _histograms(job: Job, first_hour: datetime) -> dict[str, dict[int, int]]:
    """The window's duration and lateness histograms, summed by the database ({bucket: count} each)."""
    each = "jsonb_each_text" if connection.vendor == "postgresql" else "json_each"
    table = connection.ops.quote_name(RunHourly._meta.db_table)
    job_id = RunHourly._meta.get_field("job").get_db_prep_value(job.pk, connection)
    hour = RunHourly._meta.get_field("hour").get_db_prep_value(first_hour, connection)
    sums = " UNION ALL ".join(
        f"SELECT '{name}', key, SUM(CAST(value AS integer)) FROM {table} h, {each}(h.{name}_hist) "  # noqa: S608
        "WHERE h.job_id = %s AND h.hour >= %s GROUP BY key"
        for name in ("duration", "lateness")
    )
    histograms: dict[str, dict[int, int]] = {"duration": {}, "lateness": {}}
    with connection.cursor() as cursor:
        cursor.execute(sums, [job_id, hour, job_id, hour])
        for name, bucket, count in cursor.fetchall():
            histograms[name][int(bucket)] = int(count)
    return histograms


def _rolled_up_stats(job: Job, since: datetime, first_hour: datetime, rolled: dict[str, Any]) -> dict[str, Any]:
    ended, succeeded = rolled["ended"], rolled["succeeded"]
    histograms = _histograms(job, first_hour)
    durations, lateness = histograms["duration"], histograms["lateness"]
    active = Run.objects.filter(job=job, status__in=(Run.Status.PENDING, Run.Status.RUNNING), created_at__gte=since)
    return {
        "runs": ended + active.count(),
        "ended": ended,
        "succeeded": succeeded,
        "success_rate": round(succeeded / ended, 4) if ended else None,
        "duration_ms": {f"p{p}": hist_percentile(durations, sum(durations.values()), p) for p in (50, 95, 99)},
        "lateness_ms": {f"p{p}": hist_percentile(lateness, sum(lateness.values()), p) for p in (50, 99)},
        "last_success": rolled["last_success"] or _newest_finish(job, SUCCEEDED),
        "last_failure": rolled["last_failure"] or _newest_finish(job, FAILED),
    }


def run_stats(*, job: Job, since: datetime) -> dict[str, Any]:
    first_hour = since.replace(minute=0, second=0, microsecond=0)
    in_window = Q(hour__gte=first_hour)
    rolled = RunHourly.objects.filter(job=job).aggregate(
        ended=Coalesce(Sum("ended", filter=in_window), 0),
        succeeded=Coalesce(Sum("succeeded", filter=in_window), 0),
        last_success=Max("last_success_at"),
        last_failure=Max("last_failure_at"),
    )
    if rolled["ended"] <= EXACT_LIMIT:
        return _exact_stats(job, since)
    return _rolled_up_stats(job, since, first_hour, rolled)
