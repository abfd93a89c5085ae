"""B7 isolation: one team's lateness while another team's runs hang on a target that never answers.

Processes as `make run` starts them: beat in a one-process worker for the clock queue, and one
executor worker with two pool processes (`-Q celery --concurrency=2`).

Team "noisy" triggers HANGING runs of a job whose target (`/hang` on the responder) never
answers, each through its own API-style trigger (one message each), with a 90 s timeout. Once
they all hang, team "quiet" has JOBS interval jobs (every 10 s) armed at one slot; their
requests' lateness (arrival at the responder − slot) is measured over WINDOW_S.

Baseline, in the same run: the same quiet measurement with no hanging runs.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from bench import common
from bench.common import Context
from history.models import Run
from history.services import run_trigger
from jobs.engine.clock import install_system_tasks
from jobs.models import Job

NAME = "b7_isolation"
HANGING, JOBS, INTERVAL_S, WINDOW_S = 20, 50, 10, 30
SMOKE = (2, 3, 10, 10)


def _workers() -> list[common.WorkerSpec]:
    return [
        common.WorkerSpec("b7-clock", beat=True, concurrency=1, queues="clock"),
        common.WorkerSpec("b7-executor", beat=False, concurrency=2, queues="celery"),
    ]


def _lateness(receipts: list[tuple[str, float]], keys: set[str], slots: list[float], end: float) -> list[float]:
    """Each quiet request's arrival minus its slot (the latest at or before it), for slots before `end`.

    The dispatcher claims slots ahead, so a slot just after the window may already have fired: it
    is not counted.
    """
    late = []
    for key, at in receipts:
        if key in keys:
            due = max((slot for slot in slots if slot <= at + 0.001), default=slots[0])
            if due < end:
                late.append(max(0.0, at - due))
    return late


def measure(ctx: Context, target: common.Target, hanging: int, sizes: tuple[int, int, int, int]) -> dict[str, Any]:
    _, jobs, interval_s, window_s = sizes
    common.clear_jobs()
    install_system_tasks()
    common.purge_broker(ctx)
    noisy, quiet = common.bench_team("b7-noisy"), common.bench_team("b7-quiet")
    [hang] = common.make_jobs(noisy, [target.url("/hang")], prefix="hang", timeout_ms=90_000)
    keys = [f"q{index}" for index in range(jobs)]
    common.make_jobs(quiet, [target.url(f"/r/{key}") for key in keys], prefix="quiet")
    Job.objects.filter(team=quiet).update(interval_seconds=interval_s)
    started = common.start_workers(ctx, _workers())
    try:
        for _ in range(hanging):
            run_trigger(job=hang, by=None)
        common.wait_until(lambda: Run.objects.filter(job=hang, status=Run.Status.RUNNING).count() >= hanging, 30)
        held = Run.objects.filter(job=hang, status=Run.Status.RUNNING).count()
        target.receipts()
        slot = common.whole_second_after(3)
        common.arm(slot, team=quiet)
        slots = [(slot + timedelta(seconds=k * interval_s)).timestamp() for k in range(window_s // interval_s + 2)]
        time.sleep(max(0.0, slot.timestamp() + window_s - time.time()))
        common.disarm(team=quiet)
        time.sleep(1.0)
        receipts = target.receipts()
    finally:
        for proc in started:
            proc.stop()
    common.purge_broker(ctx)
    end = slot.timestamp() + window_s
    lateness = _lateness(receipts, set(keys), slots, end)
    expected = jobs * len([s for s in slots if s < end])
    return {"hanging": held, "requests": len(lateness), "expected": expected, **common.summary_ms(lateness)}


def run(ctx: Context) -> dict[str, Any]:
    sizes = SMOKE if ctx.smoke else (HANGING, JOBS, INTERVAL_S, WINDOW_S)
    with common.Target(ctx) as target:
        common.wait_for_quiet(ctx)
        baseline = measure(ctx, target, 0, sizes)
        ctx.log(f"no hanging runs: {baseline}")
        common.wait_for_quiet(ctx)
        loaded = measure(ctx, target, sizes[0], sizes)
        ctx.log(f"{sizes[0]} hanging runs: {loaded}")
    p99 = loaded["p99_ms"]
    result = {
        "name": NAME,
        "sizes": dict(zip(("hanging", "jobs", "interval_s", "window_s"), sizes, strict=True)),
        "baseline": baseline,
        "loaded": loaded,
        "machine": common.server_versions(),
        "goals": {
            "quiet team p99 <= 100 ms while the other team's runs hang": {
                "value_ms": p99,
                "met": p99 is not None and p99 <= 100 and loaded["requests"] == loaded["expected"],
            }
        },
    }
    common.save(ctx, NAME, result, markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    rows = [
        [label, sample["hanging"], f"{sample['requests']}/{sample['expected']}", sample["p50_ms"], sample["p99_ms"]]
        for label, sample in (
            ("no hanging runs (baseline)", result["baseline"]),
            ("with hanging runs", result["loaded"]),
        )
    ]
    headers = ["quiet team's runs", "other team's runs hanging", "sent", "p50 ms", "p99 ms"]
    lines = [
        f"{sizes['jobs']} quiet jobs every {sizes['interval_s']} s for {sizes['window_s']} s; the other team's "
        f"{sizes['hanging']} runs against a target that never answers (90 s timeout). Workers as `make run`.",
        "",
        common.table(headers, rows),
        "",
    ]
    lines += common.goal_lines(result["goals"])
    return "\n".join(lines)
