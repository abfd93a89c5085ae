"""B8 dispatcher tick: its cost with 10,000, 100,000 and 1,000,000 jobs registered and the same few due.

N enabled jobs whose next slot is a day away (so they are in the due index, as a real fleet's
are), generated in one INSERT … SELECT generate_series; then DUE of them are made due and one
dispatcher tick (`jobs.engine.dispatch.dispatch`, its messages recorded, not sent) creates their
runs. Timed over REPEAT ticks, the due jobs and their runs reset between ticks. Also timed: an
idle tick (nothing due), which is what beat pays every second.

The baseline is the smallest N in the same run: the tick's cost must follow the jobs due, not
the jobs registered.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.db import connection

from bench import common
from bench.common import Context
from history.models import Run
from jobs.engine import dispatch
from jobs.models import Job

NAME = "b8_dispatch_tick"
FULL_SIZES = (10_000, 100_000, 1_000_000)
SMOKE_SIZES = (200, 1000)
DUE = 100
REPEAT = 15


def _register(n: int, team_id: int, far: Any) -> None:
    """n enabled every-minute jobs, next due `far`: one INSERT … SELECT on PostgreSQL, ORM batches on SQLite."""
    common.clear_jobs()
    if connection.vendor == "postgresql":
        # Every column from the model: given here, or the field's default (so new fields need nothing).
        given: dict[str, tuple[str, list[Any]]] = {
            "id": ("gen_random_uuid()", []),
            "team": ("%s", [team_id]),
            "natural_id": ("'tick-' || i", []),
            "name": ("'tick ' || i", []),
            "schedule_kind": ("%s", [Job.Kind.CRON]),
            "cron_expression": ("%s", ["* * * * *"]),
            "next_run_at": ("%s", [far]),
            "created_at": ("now()", []),
            "updated_at": ("now()", []),
        }
        params: list[Any]
        columns, values, params = [], [], []
        for field in Job._meta.concrete_fields:
            sql, args = given.get(field.name) or ("%s", [field.get_db_prep_save(field.get_default(), connection)])
            columns.append(connection.ops.quote_name(field.column))
            values.append(sql)
            params += args
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO jobs_job ({', '.join(columns)}) SELECT {', '.join(values)} "  # noqa: S608 - model columns
                "FROM generate_series(1, %s) AS i",
                [*params, n],
            )
        common.analyze("jobs_job")
        return
    jobs = [
        Job(team_id=team_id, natural_id=f"tick-{i}", name=f"tick {i}", cron_expression="* * * * *", next_run_at=far)
        for i in range(n)
    ]
    Job.objects.bulk_create(jobs, batch_size=1000)
    common.analyze()


def _clear_of_the_next_minute() -> None:
    """The jobs run every minute: a tick within the look-ahead of a minute boundary would also stage
    that minute's slot, two runs per due job. Wait until the boundary is further than that."""
    margin = dispatch.lookahead().total_seconds() + 1
    now = time.time()
    to_boundary = 60 - now % 60
    if to_boundary <= margin:
        time.sleep(to_boundary + 0.05)


def _ticks(due_ids: list[Any], repeat: int) -> dict[str, Any]:
    due_times, idle_times, created = [], [], []
    for _ in range(repeat):
        Run.objects.filter(job_id__in=due_ids).delete()
        _clear_of_the_next_minute()
        slot = common.whole_second_after(0)
        Job.objects.filter(pk__in=due_ids).update(next_run_at=slot)
        started = time.perf_counter()
        created.append(dispatch.dispatch(slot, publisher=lambda ids: None))
        due_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        dispatch.dispatch(slot, publisher=lambda ids: None)  # nothing is due now
        idle_times.append(time.perf_counter() - started)
    return {
        "created_per_tick": sorted(set(created)),
        "tick_p50_ms": round(common.median(due_times) * 1000, 2),
        "tick_p99_ms": round(common.percentile(due_times, 99) * 1000, 2),
        "idle_p50_ms": round(common.median(idle_times) * 1000, 2),
    }


def run(ctx: Context) -> dict[str, Any]:
    sizes = ctx.sizes or (SMOKE_SIZES if ctx.smoke else FULL_SIZES)
    due = 10 if ctx.smoke else DUE
    repeat = 3 if ctx.smoke else REPEAT
    team = common.bench_team("b8")
    far = common.utcnow() + timedelta(days=1)
    rows = []
    for n in sizes:
        started = time.monotonic()
        _register(n, team.pk, far)
        generated_s = round(time.monotonic() - started, 1)
        due_ids = list(Job.objects.order_by("natural_id").values_list("pk", flat=True)[:due])
        common.wait_for_quiet(ctx)
        row = {"n": n, "due": due, "generated_s": generated_s, **_ticks(due_ids, repeat)}
        ctx.log(f"N={n}: {row}")
        rows.append(row)
    common.clear_jobs()
    base = rows[0]
    for row in rows:
        row["vs_smallest"] = common.ratio(row["tick_p50_ms"], base["tick_p50_ms"])
    largest = rows[-1]
    result = {
        "name": NAME,
        "rows": rows,
        "machine": common.server_versions(),
        "goals": {
            f"tick with {largest['n']:,} jobs registered <= 1.2x with {base['n']:,}, {due} due": {
                "ratio": largest["vs_smallest"],
                "met": largest["vs_smallest"] is not None and largest["vs_smallest"] <= 1.2,
            }
        },
    }
    common.save(ctx, NAME, result, markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    rows = [
        [
            row["n"],
            row["due"],
            row["tick_p50_ms"],
            row["tick_p99_ms"],
            row["idle_p50_ms"],
            common.fmt(row["vs_smallest"]),
            row["generated_s"],
        ]
        for row in result["rows"]
    ]
    headers = [
        "jobs registered",
        "due",
        "tick p50 ms",
        "tick p99 ms",
        "idle tick p50 ms",
        "vs smallest",
        "generated in s",
    ]
    lines = [common.table(headers, rows), ""]
    lines += common.goal_lines(result["goals"])
    return "\n".join(lines)
