"""B5 executor memory: the worker's RSS while targets stream far more than the executor keeps.

One `celery worker -B --concurrency=1` (main process, beat and one pool process). Its RSS at rest
is the sum over that process tree after one warm-up run has loaded everything. Then, sampled
every 20 ms while the runs are in flight:
- one run whose target streams 1 GB;
- 1,000 runs whose targets each stream 10 MB (ten batches of 100 on the one pool process).
Growth is the peak of the sum minus the rest figure (and the largest single process's growth).
The executor keeps 2 KB of a body and reads at most 16 KB for the success rule, then drops the
connection: nothing of the stream should stay in memory.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bench import common
from bench.common import Context
from history.models import Run
from jobs.engine.clock import install_system_tasks

NAME = "b5_memory"
MIB = 1024 * 1024


class Sampler:
    """RSS of a process tree every `interval` seconds, in a thread."""

    def __init__(self, root_pid: int, interval: float = 0.02) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.peak_total = 0
        self.peak_by_pid: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def tree(self) -> dict[int, int]:
        pids = [self.root_pid, *common.descendants(self.root_pid)]
        return {pid: common.rss_kib(pid) for pid in pids}

    def _run(self) -> None:
        pids = [self.root_pid, *common.descendants(self.root_pid)]
        last_scan = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - last_scan > 0.5:
                pids, last_scan = [self.root_pid, *common.descendants(self.root_pid)], time.monotonic()
            sizes = {pid: common.rss_kib(pid) for pid in pids}
            self.peak_total = max(self.peak_total, sum(sizes.values()))
            for pid, size in sizes.items():
                self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), size)
            time.sleep(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _fire(prefix: str, urls: list[str], timeout_s: float) -> float:
    """Make jobs `prefix-*` due now and wait until their runs ended; returns the seconds it took."""
    slot = common.whole_second_after(1.5)
    common.arm(slot, natural_id__startswith=f"{prefix}-")
    done = common.wait_until(
        lambda: (
            Run.objects.filter(job__natural_id__startswith=f"{prefix}-", status=Run.Status.ENDED).count() >= len(urls)
        ),
        timeout_s,
        interval=0.2,
    )
    common.disarm(natural_id__startswith=f"{prefix}-")
    assert done, f"the {prefix} runs did not all end within {timeout_s} s"
    return time.time() - slot.timestamp()


def _case(worker: common.Proc, rest: dict[int, int], prefix: str, urls: list[str], timeout_s: float) -> dict[str, Any]:
    with Sampler(worker.pid) as sampler:
        seconds = _fire(prefix, urls, timeout_s)
    runs = Run.objects.filter(job__natural_id__startswith=f"{prefix}-")
    reasons = sorted(set(runs.values_list("end_reason", flat=True)))
    longest_body = max((len(body or "") for body in runs.values_list("response_body", flat=True)), default=0)
    rest_total = sum(rest.values())
    return {
        "runs": len(urls),
        "seconds": round(seconds, 1),
        "end_reasons": reasons,
        "longest_stored_body": longest_body,
        "rest_mib": round(rest_total / 1024, 1),
        "peak_mib": round(sampler.peak_total / 1024, 1),
        "growth_mib": round((sampler.peak_total - rest_total) / 1024, 1),
        "largest_process_growth_mib": round(
            max((peak - rest.get(pid, peak)) for pid, peak in sampler.peak_by_pid.items()) / 1024, 1
        ),
    }


def run(ctx: Context) -> dict[str, Any]:
    big, many, each = (20 * MIB, 20, 1 * MIB) if ctx.smoke else (1024 * MIB, 1000, 10 * MIB)
    common.clear_jobs()
    install_system_tasks()
    common.purge_broker(ctx)
    cases: dict[str, dict[str, Any]] = {}
    with common.Target(ctx) as target:
        team = common.bench_team()
        common.make_jobs(team, [target.url("/r/warm")], prefix="warm")
        common.make_jobs(team, [target.url(f"/bytes/{big}")], prefix="big", timeout_ms=120_000)
        common.make_jobs(team, [target.url(f"/bytes/{each}?n={index}") for index in range(many)], prefix="many")
        common.wait_for_quiet(ctx)
        worker = common.start_worker(ctx, "b5-memory", concurrency=1)
        try:
            _fire("warm", ["warm"], 30)
            time.sleep(1)
            rest = Sampler(worker.pid).tree()
            cases[f"one target streaming {big // MIB:,} MB"] = _case(worker, rest, "big", ["big"], 180)
            ctx.log(str(cases))
            rest_after = Sampler(worker.pid).tree()
            cases[f"{many:,} targets streaming {each // MIB} MB each"] = _case(
                worker, rest, "many", [str(index) for index in range(many)], 300
            )
            ctx.log(str(cases))
        finally:
            worker.stop()
    common.purge_broker(ctx)
    result = {
        "name": NAME,
        "rest_mib": round(sum(rest.values()) / 1024, 1),
        "rest_after_first_case_mib": round(sum(rest_after.values()) / 1024, 1),
        "processes": len(rest),
        "cases": cases,
        "machine": common.server_versions(),
    }
    worst = max(case["growth_mib"] for case in cases.values())
    result["goals"] = {"growth < 20 MB": {"worst_mib": worst, "met": worst < 20}}
    common.save(ctx, NAME, result, markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    headers = ["case", "runs", "seconds", "end reasons", "RSS at rest MiB", "peak MiB", "growth MiB", "largest process"]
    rows = [
        [
            name,
            case["runs"],
            case["seconds"],
            ", ".join(case["end_reasons"]),
            case["rest_mib"],
            case["peak_mib"],
            case["growth_mib"],
            case["largest_process_growth_mib"],
        ]
        for name, case in result["cases"].items()
    ]
    lines = [
        f"Worker process tree ({result['processes']} processes: main, beat, one pool process) at rest: "
        f"{result['rest_mib']} MiB.",
        "",
        common.table(headers, rows),
        "",
    ]
    lines += common.goal_lines(result["goals"])
    return "\n".join(lines)
