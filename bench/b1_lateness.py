"""B1 lateness: request sent − scheduled slot, for N jobs due in the same second.

Hourglass: N `* * * * *` HTTP jobs whose next slot is the same minute boundary T, fired by a real
`celery worker -B --concurrency=2` (beat ticks the dispatcher; one worker, two pool processes,
each with its engine). Lateness is the arrival time of each job's request at the responder minus
T: the request as sent, on loopback.

Baseline, same N, same responder: stock django-celery-beat, one PeriodicTask per job (a
`* * * * *` CrontabSchedule, last run the minute before T) firing a plain Celery task that sends
the request, in the same kind of worker. Up to N = BASELINE_MAX: beyond it stock beat needs
longer than the bound, and every figure would only be a lower bound.
Smoke runs use every-60-s interval schedules due at the next whole second instead, so that
they need not wait for a minute to turn.
A job that never fired within the bound counts as infinitely late, so a p99 shown as "> bound"
is a lower bound.
"""

from __future__ import annotations

import json
import math
import time
from datetime import timedelta
from typing import Any

from django.db import connection
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from bench import common
from bench.baseline_tasks import TASK_NAME
from bench.common import Context
from history.models import Run
from jobs.engine import dispatch
from jobs.engine.clock import SYSTEM_TASKS, install_system_tasks

NAME = "b1_lateness"
FULL_SIZES = (100, 1000, 5000, 20000)
SMOKE_SIZES = (5,)
BASELINE_MAX = 5000
BASELINE_PREFIX = "bench-beat-"
EVERY_MINUTE = "* * * * *"
CRONTAB_FIELDS = {
    "minute": "*",
    "hour": "*",
    "day_of_week": "*",
    "day_of_month": "*",
    "month_of_year": "*",
    "timezone": "UTC",
}


def _lateness(first: dict[str, float], keys: list[str], slot_epoch: float) -> list[float]:
    return [first[key] - slot_epoch if key in first else math.inf for key in keys]


def hourglass(
    ctx: Context, target: common.Target, n: int, bound_s: float, env: tuple[tuple[str, str], ...] = ()
) -> dict[str, Any]:
    common.clear_jobs()
    install_system_tasks()
    common.purge_broker(ctx)
    team = common.bench_team()
    keys = [str(index) for index in range(n)]
    common.make_jobs(team, [target.url(f"/r/{key}") for key in keys], cron="" if ctx.smoke else EVERY_MINUTE)
    [worker] = common.start_workers(ctx, [common.WorkerSpec(f"b1-hourglass-{n}", env=env)])
    try:
        target.receipts()  # forget anything earlier
        # Far enough ahead for the dispatcher's look-ahead: the runs are staged before the slot.
        slot = common.whole_second_after(1.5) if ctx.smoke else common.minute_after(common.staging_time(env))
        common.arm(slot)
        first = common.collect_receipts(target, set(keys), slot.timestamp() + bound_s)
        common.disarm()
        # The history rows, for the record: when the executor claimed each run.
        ended = common.wait_until(
            lambda: not Run.objects.filter(scheduled_for=slot).active().exists(), 30 if not ctx.smoke else 15
        )
    finally:
        worker.stop()
    common.purge_broker(ctx)
    claim_ms = list(Run.objects.filter(scheduled_for=slot).values_list("lateness_ms", flat=True))
    lateness = _lateness(first, keys, slot.timestamp())
    return {
        "system": "hourglass",
        "env": dict(env),
        "n": n,
        "received": len(first),
        **common.summary_ms(lateness),
        "runs": len(claim_ms),
        "all_ended": bool(ended),
        "claim_p50_ms": common.percentile([v for v in claim_ms if v is not None], 50) if claim_ms else None,
    }


def _remove_baseline_tasks() -> None:
    # Raw, because a queryset delete sends one "schedule changed" signal per row.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {PeriodicTask._meta.db_table} WHERE name LIKE %s", [BASELINE_PREFIX + "%"])  # noqa: S608


def stock_beat(ctx: Context, target: common.Target, n: int, bound_s: float) -> dict[str, Any]:
    common.clear_jobs()
    common.purge_broker(ctx)
    _remove_baseline_tasks()
    # Beat fires only the N tasks: the system tasks are switched off for this run.
    PeriodicTask.objects.filter(name__in=[spec.name for spec in SYSTEM_TASKS]).update(enabled=False)
    keys = [f"beat{index}" for index in range(n)]
    # Beat must have loaded all N entries before the slot.
    if ctx.smoke:
        schedule = {"interval": IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)[0]}
        slot = common.whole_second_after(5)
    else:
        schedule = {"crontab": CrontabSchedule.objects.get_or_create(**CRONTAB_FIELDS)[0]}
        slot = common.minute_after(15 + n * 0.004)
    PeriodicTask.objects.bulk_create(
        [
            PeriodicTask(
                name=f"{BASELINE_PREFIX}{key}",
                task=TASK_NAME,
                **schedule,
                args=json.dumps([target.url(f"/r/{key}")]),
                last_run_at=slot - timedelta(seconds=60),
            )
            for key in keys
        ],
        batch_size=1000,
    )
    worker = common.start_worker(ctx, f"b1-beat-{n}", include=("bench.baseline_tasks",))
    started_late = common.utcnow() > slot - timedelta(seconds=1)
    try:
        target.receipts()
        first = common.collect_receipts(target, set(keys), slot.timestamp() + bound_s)
        stopped_at = time.time()
    finally:
        worker.stop()
        _remove_baseline_tasks()
        install_system_tasks()
    common.purge_broker(ctx)
    if started_late:
        ctx.note(f"stock beat N={n}: the worker became ready after the slot; its figures include start-up")
    lateness = _lateness(first, keys, slot.timestamp())
    return {
        "system": "stock beat",
        "n": n,
        "received": len(first),
        "stopped_after_s": round(stopped_at - slot.timestamp(), 1),
        **common.summary_ms(lateness),
    }


def run(ctx: Context) -> dict[str, Any]:
    sizes = ctx.sizes or (SMOKE_SIZES if ctx.smoke else FULL_SIZES)
    bound_s = 30.0 if ctx.smoke else 150.0
    rows = []
    with common.Target(ctx) as target:
        for n in sizes:
            common.wait_for_quiet(ctx)
            ours = hourglass(ctx, target, n, bound_s)
            ctx.log(f"hourglass N={n}: {ours}")
            theirs = None
            if n <= BASELINE_MAX:
                common.wait_for_quiet(ctx)
                theirs = stock_beat(ctx, target, n, bound_s)
                ctx.log(f"stock beat N={n}: {theirs}")
            rows.append({"n": n, "hourglass": ours, "baseline": theirs})
    result = {
        "name": NAME,
        "bound_s": bound_s,
        "rows": rows,
        "machine": common.server_versions(),
        "lookahead_ms": dispatch.lookahead().total_seconds() * 1000,
    }
    result["goals"] = goals(rows)
    common.save(ctx, NAME, result, markdown(result))
    return result


def _goal(by_n: dict[int, dict[str, Any]], n: int, key: str, limit_ms: float) -> dict[str, Any]:
    value = by_n[n]["hourglass"][key] if n in by_n else None
    return {"value_ms": value, "met": value is not None and value <= limit_ms}


def goals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_n = {row["n"]: row for row in rows}
    smallest = min(by_n)
    compared = max(n for n, row in by_n.items() if row["baseline"] is not None)
    ours, theirs = by_n[compared]["hourglass"]["p99_ms"], by_n[compared]["baseline"]
    base_floor = theirs["p99_ms"] if theirs["p99_ms"] is not None else theirs["stopped_after_s"] * 1000
    better = (base_floor / ours) if ours else None
    found = {f"p50 <= 20 ms at N={smallest}": _goal(by_n, smallest, "p50_ms", 20)}
    for n, limit_s in ((5000, 1), (20000, 5)):
        if n in by_n:
            found[f"p99 <= {limit_s} s at N={n}"] = _goal(by_n, n, "p99_ms", limit_s * 1000)
    found[f">= 50x better p99 than stock beat at N={compared}"] = {
        "ratio": round(better, 1) if better else None,
        "baseline_is_lower_bound": theirs["p99_ms"] is None,
        "met": better is not None and compared >= 4000 and better >= 50,
    }
    return found


def markdown(result: dict[str, Any]) -> str:
    rows = []
    for row in result["rows"]:
        ours, theirs = row["hourglass"], row["baseline"]
        if theirs is None:
            rows.append([row["n"], ours["p50_ms"], ours["p99_ms"], f"{ours['received']}/{row['n']}", "", "", "", ""])
            continue
        base_p99 = theirs["p99_ms"] if theirs["p99_ms"] is not None else f"> {result['bound_s'] * 1000:,.0f}"
        rows.append(
            [
                row["n"],
                ours["p50_ms"],
                ours["p99_ms"],
                f"{ours['received']}/{row['n']}",
                theirs["p50_ms"],
                base_p99,
                f"{theirs['received']}/{row['n']}",
                common.ratio(theirs["p99_ms"], ours["p99_ms"])
                or (f"> {common.ratio(result['bound_s'] * 1000, ours['p99_ms'])}" if ours["p99_ms"] else None),
            ]
        )
    headers = ["N", "Hourglass p50 ms", "p99 ms", "fired", "stock beat p50 ms", "p99 ms", "fired", "beat p99 / ours"]
    lines = [f"Look-ahead (staging horizon): {result['lookahead_ms']:,.0f} ms.", "", common.table(headers, rows), ""]
    lines += common.goal_lines(result["goals"])
    return "\n".join(lines)
