"""B3 history API over 1M runs (10k jobs × 100; `--runs 10000000`: 100k jobs), against raw SQL.

The dataset (bench.dataset.history_dataset) also holds one busy job with 100,000 runs in the
week, for B6's stats. Five pages of 30, each requested through Django's test client (the whole
stack: middleware, API-key authentication, throttle, job lookup, selector, rendering) with an
API key of the team:
- a job's first page:           GET /api/jobs/{id}/history
- a deep page by cursor:        GET /api/history?cursor=… (the cursor of the middle row)
- the cross-job first page, filtered by status: GET /api/history?status=ended
- offset 100k:                  GET /api/history?start=100000
- a filtered and searched page: GET /api/history?endReason=failed&q=upstream
The baseline runs the equivalent SELECT (rows, their steps and team) on psycopg's own connection
and encodes the rows with json.dumps. API and baseline alternate, so both see the same noise.
Query counts are taken for limit 10 and limit 100, and for a shallow and a deep page.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench import common, dataset
from bench.common import Context
from history.models import Run, RunStep
from history.selectors import Cursor

NAME = "b3_history_api"
LIMIT = 30
RUN_TABLE, STEP_TABLE = Run._meta.db_table, RunStep._meta.db_table
ORDER = "ORDER BY r.created_at DESC, r.id DESC"


class RawPages:
    """The baseline: hand-written SQL on the DB-API connection, rows and steps as dicts, then JSON."""

    def __init__(self) -> None:
        connection.ensure_connection()
        self.raw = connection.connection
        self.sqlite = connection.vendor == "sqlite"

    def _param(self, value: Any) -> Any:
        if self.sqlite and hasattr(value, "hex") and not isinstance(value, datetime):
            return value.hex
        if self.sqlite and isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
        return value

    def _query(self, sql: str, params: list[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        if self.sqlite:
            sql = sql.replace("%s", "?")
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql, [self._param(value) for value in params])
            return [column[0] for column in cursor.description], cursor.fetchall()
        finally:
            cursor.close()

    def page(self, where: str, params: list[Any], offset: int = 0) -> bytes:
        sql = (
            f"SELECT r.*, t.slug AS team_slug FROM {RUN_TABLE} r JOIN jobs_team t ON t.id = r.team_id "  # noqa: S608
            f"WHERE {where} {ORDER} LIMIT {LIMIT + 1} OFFSET {int(offset)}"
        )
        columns, rows = self._query(sql, params)
        runs = [dict(zip(columns, row, strict=True)) for row in rows[:LIMIT]]
        if runs:
            marks = ", ".join(["%s"] * len(runs))
            step_sql = f"SELECT * FROM {STEP_TABLE} WHERE run_id IN ({marks}) ORDER BY position, name"  # noqa: S608
            step_columns, step_rows = self._query(step_sql, [run["id"] for run in runs])
            steps: dict[Any, list[dict[str, Any]]] = defaultdict(list)
            for row in step_rows:
                step = dict(zip(step_columns, row, strict=True))
                steps[step["run_id"]].append(step)
            for run in runs:
                run["steps"] = steps.get(run["id"], [])
        return json.dumps({"runs": runs, "start": offset}, default=str).encode()


def _search_clause(sqlite: bool) -> str:
    like = "UPPER({}) LIKE UPPER(%s)" if sqlite else "UPPER({}::text) LIKE UPPER(%s)"
    return "(" + " OR ".join(like.format(f"r.{column}") for column in ("run_name", "error", "response_body")) + ")"


def cases(data: dataset.Dataset, smoke: bool) -> list[dict[str, Any]]:
    """Each case: an API path (with a {limit} to fill) and its raw equivalent."""
    deep_row = 50 if smoke else (data.jobs * data.runs_per_job) // 2
    offset = 50 if smoke else 100_000
    team_id, job = data.team.pk, data.first_job
    key = (
        Run.objects.filter(team_id=team_id)
        .order_by("-created_at", "-id")
        .values_list("created_at", "id")[deep_row - 1 : deep_row]
        .get()
    )
    cursor = Cursor(key[0], key[1], deep_row).encode()
    sqlite = connection.vendor == "sqlite"
    keyset = "r.team_id = %s AND (r.created_at, r.id) < (%s, %s)"
    return [
        {
            "name": "job first page",
            "path": f"/api/jobs/{job.pk}/history?limit={{limit}}",
            "shallow": f"/api/jobs/{job.pk}/history?limit={{limit}}",
            "raw": ("r.job_id = %s", [job.pk], 0),
        },
        {
            "name": f"deep page by cursor (row {deep_row:,})",
            "path": "/api/history?" + urlencode({"cursor": cursor}) + "&limit={limit}",
            "shallow": "/api/history?limit={limit}",
            "raw": (keyset, [team_id, key[0], key[1]], 0),
        },
        {
            "name": "/api/history first page, filtered by status",
            "path": "/api/history?status=ended&limit={limit}",
            "shallow": "/api/history?status=ended&limit={limit}",
            "raw": ("r.team_id = %s AND r.status = %s", [team_id, "ended"], 0),
        },
        {
            "name": f"offset {offset:,} on /api/history",
            "path": f"/api/history?start={offset}&limit={{limit}}",
            "shallow": "/api/history?start=0&limit={limit}",
            "raw": ("r.team_id = %s", [team_id], offset),
        },
        {
            "name": "filtered and searched (endReason=failed, q=upstream)",
            "path": "/api/history?endReason=failed&q=upstream&limit={limit}",
            "shallow": "/api/history?endReason=failed&q=upstream&limit={limit}",
            "raw": (
                f"r.team_id = %s AND r.end_reason = %s AND {_search_clause(sqlite)}",
                [team_id, "failed", "%upstream%", "%upstream%", "%upstream%"],
                0,
            ),
        },
    ]


def _get(client: Client, path: str) -> bytes:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:500])
    return response.content


def _queries(client: Client, path: str) -> int:
    """The fewest of three: an API key's last_used_at is written at most once a minute, on any request."""
    counts = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            _get(client, path)
        counts.append(len(captured.captured_queries))
    return min(counts)


def measure(ctx: Context, data: dataset.Dataset, repeat: int) -> list[dict[str, Any]]:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {data.key}")
    raw = RawPages()
    rows = []
    for case in cases(data, ctx.smoke):
        path = case["path"].format(limit=LIMIT)
        where, params, offset = case["raw"]
        api_body = _get(client, path)
        assert json.loads(api_body)["_embedded"]["inf:job-history"], case["name"]
        api_times, raw_times = [], []
        for _ in range(3):  # warm both
            _get(client, path)
            raw.page(where, params, offset)
        for _ in range(repeat):
            started = time.perf_counter()
            _get(client, path)
            api_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            raw.page(where, params, offset)
            raw_times.append(time.perf_counter() - started)
        counts = {
            "limit 10": _queries(client, case["path"].format(limit=10)),
            "limit 100": _queries(client, case["path"].format(limit=100)),
            "shallow": _queries(client, case["shallow"].format(limit=LIMIT)),
            "this page": _queries(client, path),
        }
        api_p50, raw_p50 = common.median(api_times), common.median(raw_times)
        row = {
            "case": case["name"],
            "path": path if len(path) < 90 else path[:60] + "…",
            "api_p50_ms": round(api_p50 * 1000, 2),
            "api_p99_ms": round(common.percentile(api_times, 99) * 1000, 2),
            "raw_p50_ms": round(raw_p50 * 1000, 2),
            "raw_p99_ms": round(common.percentile(raw_times, 99) * 1000, 2),
            "ratio": round(api_p50 / raw_p50, 2),
            "queries": counts,
            "constant": len(set(counts.values())) == 1,
        }
        ctx.log(str(row))
        rows.append(row)
    return rows


def run(ctx: Context) -> dict[str, Any]:
    repeat = 3 if ctx.smoke else 50
    data = dataset.history_dataset(ctx, smoke_jobs=20)
    jobs = data.jobs
    common.wait_for_quiet(ctx)
    rows = measure(ctx, data, repeat)
    result = {
        "name": NAME,
        "jobs": jobs,
        "runs": Run.objects.count(),
        "repeat": repeat,
        "limit": LIMIT,
        "rows": rows,
        "machine": common.server_versions(),
    }
    result["goals"] = {
        "p50 <= 2x raw": {"worst": max(row["ratio"] for row in rows), "met": all(row["ratio"] <= 2 for row in rows)},
        "query count constant in page size and depth": {"met": all(row["constant"] for row in rows)},
    }
    common.save(ctx, common.sized(NAME, ctx), result, markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    headers = ["page", "API p50 ms", "API p99 ms", "raw p50 ms", "raw p99 ms", "API / raw (p50)", "queries"]
    rows = [
        [
            row["case"],
            row["api_p50_ms"],
            row["api_p99_ms"],
            row["raw_p50_ms"],
            row["raw_p99_ms"],
            row["ratio"],
            " / ".join(f"{name}: {count}" for name, count in row["queries"].items()),
        ]
        for row in result["rows"]
    ]
    lines = [common.table(headers, rows), ""]
    lines += common.goal_lines(result["goals"])
    return "\n".join(lines)
