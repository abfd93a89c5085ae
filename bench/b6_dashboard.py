"""B6 dashboard: the job list with 10k jobs and a job's page with 100 runs, against the API.

Same dataset as B3 (10k jobs × 100 runs, or 100k with `--runs 10000000`, and a busy job with
100,000 runs in the week), same signed-in user for both, through Django's test
client (session authentication, the whole middleware stack):
- job list, first page (25 jobs, each with its last run, sparkline and success rate)
  vs GET /api/jobs?limit=25;
- job page of a job with 100 runs (schedule, stats, duration chart, first 25 runs)
  vs GET /api/jobs/{id}/history?limit=25, and vs the three calls that carry the same data
  (the job, its stats, its history page).
- the busy job's page, and its 7-day stats on their own: run_stats() as the page calls it (from
  the hourly rollups), the stats API, and the exact scan every page view made before them.
Query counts are compared across pages 1 and last of the list, and between a job with 100 runs
(or the busy job) and one with 3.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench import common, dataset
from bench.common import Context
from history import stats
from history.models import Run, RunHourly
from jobs.models import Job, JobStep

NAME = "b6_dashboard"
PER_PAGE = 25


def _get(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:300])


def _queries(client: Client, path: str) -> int:
    counts = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            _get(client, path)
        counts.append(len(captured.captured_queries))
    return min(counts)


def _small_job(team: Any) -> Job:
    job = Job.objects.create(
        team=team, natural_id="bench-small", name="Small", cron_expression="*/5 * * * *", next_run_at=None
    )
    JobStep.objects.create(job=job, name="main", config={"method": "GET", "url": "https://example.com/"})
    now = timezone.now()
    for minutes in (15, 10, 5):
        slot = now - timedelta(minutes=minutes)
        Run.objects.create(
            job=job, team=team, scheduled_for=slot, status="ended", end_reason="success", started_at=slot,
            finished_at=slot + timedelta(milliseconds=40), duration_ms=40, lateness_ms=12, http_status=200,
            response_body="ok",
        )  # fmt: skip
    return job


def _stats_timing(client: Client, busy: Job, repeat: int) -> dict[str, Any]:
    """The busy job's 7-day stats: run_stats() as the job page calls it, the stats API, and the exact scan."""
    since = timezone.now() - timedelta(days=7)
    timed: dict[str, list[float]] = {"run_stats": [], "api": [], "exact": []}
    calls = {
        "run_stats": lambda: stats.run_stats(job=busy, since=since),
        "api": lambda: _get(client, f"/api/jobs/{busy.pk}/stats?window=7d"),
        "exact": lambda: stats._exact_stats(busy, since),  # what every page view read before the rollups
    }
    for name, call in calls.items():
        call()
        for _ in range(repeat if name != "exact" else max(repeat // 5, 1)):
            started = time.perf_counter()
            call()
            timed[name].append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as captured:
        stats.run_stats(job=busy, since=since)
    return {
        "run_stats_p50_ms": round(common.median(timed["run_stats"]) * 1000, 2),
        "api_stats_p50_ms": round(common.median(timed["api"]) * 1000, 2),
        "exact_scan_p50_ms": round(common.median(timed["exact"]) * 1000, 2),
        "run_stats_queries": len(captured.captured_queries),
        "rollup_rows": RunHourly.objects.filter(job=busy, hour__gte=since.replace(minute=0, second=0)).count(),
    }


def _time(client: Client, paths: list[str], repeat: int) -> list[float]:
    for path in paths:
        _get(client, path)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for path in paths:
            _get(client, path)
        times.append(time.perf_counter() - started)
    return times


def run(ctx: Context) -> dict[str, Any]:
    repeat = 3 if ctx.smoke else 50
    data = dataset.history_dataset(ctx, smoke_jobs=30)
    jobs, runs_per_job = data.jobs, data.runs_per_job
    client = Client()
    client.force_login(data.user)
    small = _small_job(data.team)
    try:
        job = data.first_job
        last_page = (jobs + 2 + PER_PAGE - 1) // PER_PAGE  # with the small and the busy job
        pages: dict[str, dict[str, Any]] = {
            "job list, page 1": {
                "dashboard": ["/"],
                "api": [f"/api/jobs?limit={PER_PAGE}"],
                "counts": {"page 1": "/", f"page {last_page}": f"/?page={last_page}"},
            },
            f"job page, {runs_per_job} runs": {
                "dashboard": [f"/jobs/{job.pk}/"],
                "api": [f"/api/jobs/{job.pk}/history?limit={PER_PAGE}"],
                "api (job + stats + history)": [
                    f"/api/jobs/{job.pk}",
                    f"/api/jobs/{job.pk}/stats",
                    f"/api/jobs/{job.pk}/history?limit={PER_PAGE}",
                ],
                "counts": {f"{runs_per_job} runs": f"/jobs/{job.pk}/", "3 runs": f"/jobs/{small.pk}/"},
            },
        }
        busy = data.busy_job
        assert busy is not None
        busy_runs = busy.keep_runs
        pages[f"job page, {busy_runs:,} runs in 7 days"] = {
            "dashboard": [f"/jobs/{busy.pk}/"],
            "api": [f"/api/jobs/{busy.pk}/history?limit={PER_PAGE}"],
            "api (job + stats + history)": [
                f"/api/jobs/{busy.pk}",
                f"/api/jobs/{busy.pk}/stats?window=7d",
                f"/api/jobs/{busy.pk}/history?limit={PER_PAGE}",
            ],
            "counts": {f"{busy_runs:,} runs": f"/jobs/{busy.pk}/", "3 runs": f"/jobs/{small.pk}/"},
        }
        common.wait_for_quiet(ctx)
        rows = []
        for name, page in pages.items():
            dashboard, api = [], []
            alternatives: dict[str, list[float]] = {}
            for _ in range(repeat):  # alternate, so both see the same noise
                dashboard += _time(client, page["dashboard"], 1)
                api += _time(client, page["api"], 1)
                for extra in [key for key in page if key.startswith("api (")]:
                    alternatives.setdefault(extra, []).extend(_time(client, page[extra], 1))
            counts = {label: _queries(client, path) for label, path in page["counts"].items()}
            row: dict[str, Any] = {
                "page": name,
                "dashboard_p50_ms": round(common.median(dashboard) * 1000, 2),
                "dashboard_p99_ms": round(common.percentile(dashboard, 99) * 1000, 2),
                "api_p50_ms": round(common.median(api) * 1000, 2),
                "ratio": round(common.median(dashboard) / common.median(api), 2),
                "alternatives": {
                    key: {
                        "p50_ms": round(common.median(times) * 1000, 2),
                        "ratio": round(common.median(dashboard) / common.median(times), 2),
                    }
                    for key, times in alternatives.items()
                },
                "queries": counts,
                "api_queries": _queries(client, page["api"][0]),
                "constant": len(set(counts.values())) == 1,
            }
            ctx.log(str(row))
            rows.append(row)
        stats = _stats_timing(client, busy, repeat)
        ctx.log(str(stats))
    finally:
        small.delete()
    result = {
        "name": NAME,
        "jobs": jobs,
        "runs_per_job": runs_per_job,
        "runs": jobs * runs_per_job + busy_runs,
        "repeat": repeat,
        "rows": rows,
        "stats": stats,
    }
    result["machine"] = common.server_versions()
    result["goals"] = {
        "p50 <= 2x the API": {
            "worst": max(row["ratio"] for row in rows),
            "met": all(row["ratio"] <= 2 for row in rows),
        },
        "constant query count": {"met": all(row["constant"] for row in rows)},
        f"job page stats <= 10 ms, {busy_runs:,} runs in 7 days": {
            "p50_ms": stats["run_stats_p50_ms"],
            "met": stats["run_stats_p50_ms"] <= 10,
        },
    }
    common.save(ctx, common.sized(NAME, ctx), result, markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    headers = ["page", "dashboard p50 ms", "p99 ms", "API p50 ms", "dashboard / API", "queries (dashboard)", "API"]
    rows = []
    for row in result["rows"]:
        rows.append(
            [
                row["page"],
                row["dashboard_p50_ms"],
                row["dashboard_p99_ms"],
                row["api_p50_ms"],
                row["ratio"],
                " / ".join(f"{label}: {count}" for label, count in row["queries"].items()),
                row["api_queries"],
            ]
        )
        for name, alternative in row["alternatives"].items():
            rows.append([f"… vs {name}", "", "", alternative["p50_ms"], alternative["ratio"], "", ""])
    lines = [common.table(headers, rows), ""]
    stats = result["stats"]
    lines += [
        common.table(
            ["busy job's 7-day stats", "p50 ms"],
            [
                [f"run_stats (job page), from {stats['rollup_rows']} hourly rollups", stats["run_stats_p50_ms"]],
                ["GET /api/jobs/{id}/stats?window=7d", stats["api_stats_p50_ms"]],
                ["the exact scan of every run (before the rollups)", stats["exact_scan_p50_ms"]],
            ],
        ),
        "",
    ]
    lines += common.goal_lines(result["goals"])
    return "\n".join(lines)
