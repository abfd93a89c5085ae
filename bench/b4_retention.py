"""B4 retention: 10k jobs × 150 ended runs (one step each) trimmed to each job's newest 100.

Hourglass: history.retention.prune_all(), what the nightly `prune` task and `manage.py prune`
run. Each of its delete transactions (_delete_batch) is timed: the longest is the longest time
it holds row locks.
Baseline: one hand-written statement, a row_number() window over every job's ended runs that
deletes the steps and runs ranked past 100 (on SQLite, the same two DELETEs in one transaction).
Its whole duration is one lock.
Before each trial the tables are restored from a snapshot taken after generation (PostgreSQL;
SQLite regenerates) and vacuumed, so every trial starts from the same rows. Trials alternate.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from django.db import connection, transaction

from bench import common, dataset
from bench.common import Context
from history import retention
from history.models import Run, RunStep

NAME = "b4_retention"
SNAPSHOTS = {"history_run": "bench_b4_run", "history_runstep": "bench_b4_runstep"}
DOOMED = (
    "SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY job_id ORDER BY created_at DESC, id DESC) AS rank "
    "FROM history_run WHERE status = 'ended') AS ranked WHERE rank > %s"
)


def _snapshot() -> None:
    with connection.cursor() as cursor:
        for table, copy in SNAPSHOTS.items():
            cursor.execute(f"DROP TABLE IF EXISTS {copy}")
            cursor.execute(f"CREATE TABLE {copy} AS TABLE {table}")


def _restore(ctx: Context, jobs: int, runs_per_job: int, keep: int) -> None:
    if connection.vendor != "postgresql" or ctx.smoke:
        dataset.generate(jobs, runs_per_job, keep_runs=keep)
        return
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE history_runstep, history_run")
        cursor.execute("INSERT INTO history_run SELECT * FROM bench_b4_run")
        cursor.execute("INSERT INTO history_runstep SELECT * FROM bench_b4_runstep")
    common.analyze("history_run", "history_runstep")


def hourglass(keep: int) -> dict[str, Any]:
    locks: list[float] = []
    delete_batch = retention._delete_batch

    def timed_batch(run_ids: list[UUID]) -> int:
        started = time.perf_counter()
        try:
            return delete_batch(run_ids)
        finally:
            locks.append(time.perf_counter() - started)

    retention._delete_batch = timed_batch
    try:
        started = time.perf_counter()
        deleted = retention.prune_all()
        elapsed = time.perf_counter() - started
    finally:
        retention._delete_batch = delete_batch
    return {
        "seconds": round(elapsed, 3),
        "deleted": deleted,
        "transactions": len(locks),
        "longest_lock_ms": round(max(locks, default=0) * 1000, 1),
    }


def hand_written(keep: int) -> dict[str, Any]:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH doomed AS ({DOOMED}), steps AS (DELETE FROM history_runstep WHERE run_id IN "  # noqa: S608
                "(SELECT id FROM doomed)) DELETE FROM history_run WHERE id IN (SELECT id FROM doomed)",
                [keep],
            )
            deleted = cursor.rowcount
        else:
            with transaction.atomic():
                cursor.execute(f"DELETE FROM history_runstep WHERE run_id IN ({DOOMED})", [keep])  # noqa: S608
                cursor.execute(f"DELETE FROM history_run WHERE id IN ({DOOMED})", [keep])  # noqa: S608
                deleted = cursor.rowcount
    elapsed = time.perf_counter() - started
    return {
        "seconds": round(elapsed, 3),
        "deleted": deleted,
        "transactions": 1,
        "longest_lock_ms": round(elapsed * 1000, 1),
    }


def _check(jobs: int, keep: int) -> None:
    remaining = Run.objects.count()
    assert remaining == jobs * keep, (remaining, jobs * keep)
    assert RunStep.objects.count() == remaining


def run(ctx: Context) -> dict[str, Any]:
    jobs, runs_per_job, keep = (20, 15, 10) if ctx.smoke else (10_000, 150, 100)
    repeat = 1 if ctx.smoke else ctx.repeat
    ctx.log(f"generating {jobs:,} jobs × {runs_per_job} runs")
    dataset.forget()
    dataset.generate(jobs, runs_per_job, keep_runs=keep)
    if connection.vendor == "postgresql" and not ctx.smoke:
        _snapshot()
    samples: dict[str, list[dict[str, Any]]] = {"hourglass": [], "baseline": []}
    for round_number in range(repeat):
        for name, trial in (("hourglass", hourglass), ("baseline", hand_written)):
            if round_number or name != "hourglass":
                _restore(ctx, jobs, runs_per_job, keep)
            common.wait_for_quiet(ctx)
            sample = trial(keep)
            _check(jobs, keep)
            ctx.log(f"{name} round {round_number + 1}: {sample}")
            samples[name].append(sample)
    ours = common.median([sample["seconds"] for sample in samples["hourglass"]])
    theirs = common.median([sample["seconds"] for sample in samples["baseline"]])
    longest = max(sample["longest_lock_ms"] for sample in samples["hourglass"])
    result = {
        "name": NAME,
        "jobs": jobs,
        "runs_per_job": runs_per_job,
        "keep": keep,
        "repeat": repeat,
        "samples": samples,
        "hourglass_s": ours,
        "baseline_s": theirs,
        "ratio": common.ratio(ours, theirs),
        "longest_lock_ms": longest,
        "baseline_lock_ms": round(theirs * 1000, 1),
        "machine": common.server_versions(),
    }
    result["goals"] = {
        "<= 1.5x the hand-written DELETE": {"ratio": result["ratio"], "met": result["ratio"] <= 1.5},
        "longest single lock <= 1 s": {"longest_ms": longest, "met": longest <= 1000},
    }
    common.save(ctx, NAME, result, markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    def seconds(name: str) -> str:
        return ", ".join(f"{sample['seconds']:.2f}" for sample in result["samples"][name])

    first = result["samples"]["hourglass"][0]
    rows = [
        [
            "prune_all (Hourglass)",
            seconds("hourglass"),
            result["hourglass_s"],
            result["ratio"],
            first["transactions"],
            result["longest_lock_ms"],
        ],
        [
            "one DELETE with row_number()",
            seconds("baseline"),
            result["baseline_s"],
            "1.00",
            1,
            result["baseline_lock_ms"],
        ],
    ]
    headers = ["what", "seconds per round", "median s", "vs baseline", "transactions", "longest lock ms"]
    lines = [
        f"{result['jobs']:,} jobs × {result['runs_per_job']} runs → {result['keep']} each "
        f"({first['deleted']:,} runs and their steps deleted per round).",
        "",
        common.table(headers, rows),
        "",
    ]
    lines += common.goal_lines(result["goals"])
    return "\n".join(lines)
