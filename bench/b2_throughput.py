"""B2 end-to-end throughput: runs per second from their slot to their ended history row.

Hourglass: M every-minute HTTP jobs made due at one whole second T; a real
`celery worker -B --concurrency=2` dispatches and executes them. Throughput is M divided by the
time from T until the bench sees all M runs `ended` in the database (polled every 0.2 s).

Baselines in the same run, against the same responder:
- wrk, `-H "Connection: close"`: what the responder and the loopback sustain at all;
- one Celery task per request: M plain tasks (bench.baseline_tasks) queued before the worker
  starts, timed from the first request's arrival to the last's. Nothing is written to a
  database, which favours the baseline.

Scale-out: the Hourglass measurement with one worker process (`--concurrency=1`, with beat)
and with two (a second `--concurrency=1` worker under another --hostname), as two machines
would run them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import Counter
from typing import Any

from bench import common
from bench.baseline_tasks import ONE_RUN_TASK, TASK_NAME
from bench.common import Context
from history.models import Run
from jobs.engine import dispatch
from jobs.engine.clock import install_system_tasks

NAME = "b2_throughput"


def _wait_all_ended(m: int, deadline_at: float) -> float | None:
    """Epoch time at which all m runs had ended, or None at the deadline (polled every 0.1 s)."""
    while time.time() < deadline_at:
        if Run.objects.filter(status=Run.Status.ENDED).count() >= m:
            return time.time()
        time.sleep(0.1)
    return None


def hourglass(ctx: Context, target: common.Target, m: int, workers: list[common.WorkerSpec]) -> dict[str, Any]:
    """One measurement with these workers."""
    common.clear_jobs()
    install_system_tasks()
    common.purge_broker(ctx)
    common.make_jobs(common.bench_team(), [target.url(f"/r/{index}") for index in range(m)])
    started = common.start_workers(ctx, workers)
    try:
        target.receipts()
        slot = common.whole_second_after(1.5 if ctx.smoke else common.staging_time())
        common.arm(slot)
        common.wait_until(lambda: common.utcnow() >= slot, 60, interval=0.005)
        cpu_before = common.cpu_ticks()
        done_at = _wait_all_ended(m, slot.timestamp() + (60 if ctx.smoke else 300))
        cpu_after = common.cpu_ticks()
        common.disarm()
    finally:
        for proc in started:
            proc.stop()
    common.purge_broker(ctx)
    ended = Run.objects.filter(status=Run.Status.ENDED, end_reason=Run.EndReason.SUCCESS).count()
    batches = {proc.name: len(re.findall(r"execute_runs\[[^\]]+\] succeeded", proc.text())) for proc in started}
    elapsed = (done_at - slot.timestamp()) if done_at else None
    return {
        "m": m,
        "workers": len(workers),
        "succeeded": ended,
        "seconds": round(elapsed, 2) if elapsed else None,
        "runs_per_s": round(m / elapsed, 1) if elapsed else None,
        "batches_per_worker": batches,
        "stop_s": [proc.stop_seconds for proc in started],
        # Of both cores, from the slot to the last ended row: what is left for a second worker.
        "machine_busy": common.busy_share(cpu_before, cpu_after),
    }


def wrk(ctx: Context, target: common.Target) -> dict[str, Any]:
    binary = shutil.which("wrk")
    if binary is None and not ctx.smoke:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True, timeout=300)
        binary = shutil.which("wrk")
    if binary is None:
        ctx.note("wrk is not installed; its baseline was not measured")
        return {"requests_per_s": None}
    duration, connections = ("1s", 4) if ctx.smoke else ("10s", 64)
    argv = [binary, "-t2", f"-c{connections}", f"-d{duration}", "-H", "Connection: close", target.url("/wrk")]
    output = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests_per_s": float(found.group(1)) if found else None,
        "command": " ".join(argv[:-1]) + " <responder>/wrk",
        "socket_errors": errors.group(1) if errors else "",
    }


def one_task_per_request(ctx: Context, target: common.Target, m: int) -> dict[str, Any]:
    from config.celery import app

    common.clear_jobs()
    common.purge_broker(ctx)
    keys = [f"t{index}" for index in range(m)]
    with app.connection_for_write(ctx.broker_url) as broker:
        for key in keys:
            app.send_task(TASK_NAME, args=[target.url(f"/r/{key}")], connection=broker)
    target.receipts()
    worker = common.start_worker(ctx, "b2-one-task", beat=False, include=("bench.baseline_tasks",))
    try:
        first = common.collect_receipts(target, set(keys), time.time() + (60 if ctx.smoke else 300))
    finally:
        worker.stop()
    common.purge_broker(ctx)
    times = sorted(first.values())
    elapsed = times[-1] - times[0] if len(times) > 1 else None
    return {
        "m": m,
        "received": len(first),
        "seconds": round(elapsed, 2) if elapsed else None,
        "runs_per_s": round((len(times) - 1) / elapsed, 1) if elapsed else None,
    }


def one_task_per_run(ctx: Context, target: common.Target, m: int) -> dict[str, Any]:
    """The same engine with one Celery message per run: runs dispatched here (not in the worker)."""
    from config.celery import app

    common.clear_jobs()
    common.purge_broker(ctx)
    common.make_jobs(common.bench_team(), [target.url(f"/r/{index}") for index in range(m)])
    spec = common.WorkerSpec("b2-one-run", beat=False, include=("bench.baseline_tasks",))
    [worker] = common.start_workers(ctx, [spec])

    slot = common.whole_second_after(1.5 if ctx.smoke else 2.5)

    def publish(run_ids: list[str]) -> None:
        # One message per run, due at the slot (Celery's ETA), each running the executor on its own.
        with app.connection_for_write(ctx.broker_url) as broker:
            for run_id in run_ids:
                app.send_task(ONE_RUN_TASK, args=[run_id], eta=slot, connection=broker)

    try:
        common.arm(slot)
        common.wait_until(lambda: common.utcnow() >= slot - dispatch.lookahead(), 10, interval=0.01)
        dispatch.dispatch(publisher=publish)
        done_at = _wait_all_ended(m, slot.timestamp() + (60 if ctx.smoke else 300))
        common.disarm()
    finally:
        worker.stop()
    common.purge_broker(ctx)
    elapsed = (done_at - slot.timestamp()) if done_at else None
    return {
        "m": m,
        "succeeded": Run.objects.filter(end_reason=Run.EndReason.SUCCESS).count(),
        "seconds": round(elapsed, 2) if elapsed else None,
        "runs_per_s": round(m / elapsed, 1) if elapsed else None,
    }


def _timed(phase: Any, *args: Any) -> dict[str, Any]:
    started = time.monotonic()
    sample = phase(*args)
    return {**sample, "phase_s": round(time.monotonic() - started, 1)}


def _median_of(samples: list[dict[str, Any]], key: str) -> float | None:
    values = [sample[key] for sample in samples if sample.get(key) is not None]
    return common.median(values) if values else None


def run(ctx: Context) -> dict[str, Any]:
    m = (ctx.sizes or ((20,) if ctx.smoke else (5000,)))[0]
    # The scale-out runs are longer, so that the fixed part of one (the first and last writes,
    # polling for the last row) weighs little next to the sending.
    m_scale = m if ctx.smoke else max(m, 20000)
    m_tasks = 20 if ctx.smoke else 2000
    repeat = 1 if ctx.smoke else ctx.repeat
    spec = common.WorkerSpec
    single = [spec("b2-w1", concurrency=2)]
    scale = {
        1: [spec("b2-scale-w1", concurrency=1)],
        2: [spec("b2-scale-w1", concurrency=1), spec("b2-scale-w2", beat=False, concurrency=1)],
    }
    samples: dict[str, list[dict[str, Any]]] = {
        "hourglass": [],
        "wrk": [],
        "task": [],
        "run_task": [],
        "scale1": [],
        "scale2": [],
    }
    with common.Target(ctx) as target:
        for round_number in range(repeat):
            ctx.log(f"round {round_number + 1}/{repeat}")
            common.wait_for_quiet(ctx)
            samples["wrk"].append(_timed(wrk, ctx, target))
            samples["hourglass"].append(_timed(hourglass, ctx, target, m, single))
            samples["task"].append(_timed(one_task_per_request, ctx, target, m_tasks))
            samples["run_task"].append(_timed(one_task_per_run, ctx, target, m_tasks))
            # At smoke size the one-worker run is the same code path as the one above: skipped.
            samples["scale1"].append(
                samples["hourglass"][-1] if ctx.smoke else _timed(hourglass, ctx, target, m_scale, scale[1])
            )
            samples["scale2"].append(_timed(hourglass, ctx, target, m_scale, scale[2]))
            for name, values in samples.items():
                ctx.log(f"{name}: {values[-1]}")
    ours = _median_of(samples["hourglass"], "runs_per_s")
    wrk_rps = _median_of(samples["wrk"], "requests_per_s")
    task_rps = _median_of(samples["task"], "runs_per_s")
    run_task_rps = _median_of(samples["run_task"], "runs_per_s")
    one, two = _median_of(samples["scale1"], "runs_per_s"), _median_of(samples["scale2"], "runs_per_s")
    shares: Counter[str] = Counter()
    for sample in samples["scale2"]:
        shares.update(sample["batches_per_worker"])
    result: dict[str, Any] = {
        "name": NAME,
        "m": m,
        "m_scale": m_scale,
        "m_tasks": m_tasks,
        "repeat": repeat,
        "samples": samples,
        "hourglass_runs_per_s": ours,
        "wrk_requests_per_s": wrk_rps,
        "task_runs_per_s": task_rps,
        "vs_wrk": common.ratio(ours, wrk_rps),
        "vs_task": common.ratio(ours, task_rps),
        "run_task_runs_per_s": run_task_rps,
        "vs_run_task": common.ratio(ours, run_task_rps),
        "scale_out": {"one": one, "two": two, "ratio": common.ratio(two, one), "batches": dict(shares)},
        "machine": common.server_versions(),
    }
    scale_ratio = result["scale_out"]["ratio"]
    result["goals"] = {
        ">= 0.2x wrk": {"ratio": result["vs_wrk"], "met": result["vs_wrk"] is not None and result["vs_wrk"] >= 0.2},
        ">= 0.25x wrk": {"ratio": result["vs_wrk"], "met": result["vs_wrk"] is not None and result["vs_wrk"] >= 0.25},
        "2 workers >= 1.8x 1 worker": {"ratio": scale_ratio, "met": scale_ratio is not None and scale_ratio >= 1.8},
        ">= 6x one task per request": {
            "ratio": result["vs_task"],
            "met": result["vs_task"] is not None and result["vs_task"] >= 6,
        },
    }
    common.save(ctx, NAME, result, markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    samples = result["samples"]

    def runs(name: str, key: str = "runs_per_s") -> str:
        return ", ".join(common.fmt(sample.get(key)) for sample in samples[name])

    rows = [
        ["Hourglass, 1 worker × 2 processes", result["m"], runs("hourglass"), result["hourglass_runs_per_s"], "1.00"],
        [
            "wrk, Connection: close (requests/s)",
            "10 s",
            runs("wrk", "requests_per_s"),
            result["wrk_requests_per_s"],
            common.fmt(result["vs_wrk"]),
        ],
        [
            "one Celery task per request (plain task, no database)",
            result["m_tasks"],
            runs("task"),
            result["task_runs_per_s"],
            common.fmt(result["vs_task"]),
        ],
        [
            "one Celery task per run (Hourglass's executor, batch of 1)",
            result["m_tasks"],
            runs("run_task"),
            result["run_task_runs_per_s"],
            common.fmt(result["vs_run_task"]),
        ],
    ]
    scale = result["scale_out"]
    scale_rows = [
        [
            "1 worker, --concurrency=1",
            result["m_scale"],
            runs("scale1"),
            scale["one"],
            "1.00",
            runs("scale1", "machine_busy"),
        ],
        [
            "2 workers, --concurrency=1 each",
            result["m_scale"],
            runs("scale2"),
            scale["two"],
            common.fmt(scale["ratio"]),
            runs("scale2", "machine_busy"),
        ],
    ]
    headers = ["what", "M", "runs/s per round", "median", "Hourglass / this"]
    scale_headers = ["what", "M", "runs/s per round", "median", "vs 1 worker", "both cores busy (share)"]
    lines = [common.table(headers, rows), "", common.table(scale_headers, scale_rows), ""]
    lines.append(f"Batches executed per worker in the 2-worker rounds: {scale['batches']}")
    lines.append("")
    lines += common.goal_lines(result["goals"])
    return "\n".join(lines)
