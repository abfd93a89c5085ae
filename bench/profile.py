"""`python -m bench.profile {api,dashboard,executor}`: where the time of a benchmarked path goes.

Prints a pyinstrument call tree (and the median time per call) for:
- api        B3's "job first page" request (the B3 dataset: 10,000 jobs x 100 runs, reused if present)
- dashboard  B6's job list and job page (the same dataset)
- executor   one engine in this process, fed batches of 100 runs as a worker's tasks do, against
             bench/responder.py; CPU counts every thread of the process
It uses the benchmarks' database and Redis (BENCH_DATABASE_URL / BENCH_REDIS_URL) and settings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.__main__ import ROOT, prepare

if TYPE_CHECKING:
    from bench.common import Context


def _timed(label: str, call: Callable[[], object], repeat: int) -> None:
    for _ in range(10):
        call()
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    print(f"{label}: median {statistics.median(wall) * 1000:.2f} ms (CPU {statistics.median(cpu) * 1000:.2f} ms)")


def _profile(call: Callable[[], object], repeat: int) -> None:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(repeat):
        call()
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False))


def _get(client: object, path: str) -> Callable[[], object]:
    def call() -> object:
        response = client.get(path)  # type: ignore[attr-defined]  # a Django or DRF test client; both have get()
        assert response.status_code == 200, (path, response.status_code)
        return response

    return call


def api(ctx: Context, repeat: int) -> None:
    from django.test import Client

    from bench import b3_history_api, dataset

    data = dataset.history_dataset(ctx, smoke_jobs=20)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {data.key}")
    raw = b3_history_api.RawPages()
    request = _get(client, f"/api/jobs/{data.first_job.pk}/history?limit=30")
    _timed("API job first page", request, repeat)
    _timed("raw SQL + json.dumps", lambda: raw.page("r.job_id = %s", [data.first_job.pk], 0), repeat)
    _profile(request, repeat)


def dashboard(ctx: Context, repeat: int) -> None:
    from django.test import Client

    from bench import dataset

    data = dataset.history_dataset(ctx, smoke_jobs=20)
    client = Client()
    client.force_login(data.user)
    for label, page in (("job list", "/"), ("job page", f"/jobs/{data.first_job.pk}/")):
        _timed(label, _get(client, page), repeat)
        _profile(_get(client, page), repeat)


def executor(ctx: Context, repeat: int) -> None:
    from bench import common
    from history.models import Run
    from jobs.engine import dispatch
    from jobs.engine.engine import Engine
    from jobs.models import Job

    runs = max(repeat, 100) * 10
    with common.Target(ctx) as target:
        common.clear_jobs()
        common.make_jobs(common.bench_team(), [target.url(f"/r/{index}") for index in range(runs)])
        engine = Engine().start()  # one engine for every batch, as in a worker process

        def one_round() -> list[list[str]]:
            Run.objects.all().delete()
            now = common.utcnow()
            Job.objects.update(next_run_at=now)
            batches: list[list[str]] = []
            dispatch.dispatch(now, publisher=lambda ids: batches.append([str(run_id) for run_id in ids]))
            return batches

        def execute(batches: list[list[str]]) -> None:
            # What the worker's tasks do, batch by batch: stage on this thread, hand to the engine.
            for future in [engine.submit(batch, at_once=True) for batch in batches]:
                future.result(120)

        for label in ("warm-up", "measured"):
            batches = one_round()
            started, started_cpu = time.perf_counter(), time.process_time()
            execute(batches)
            wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
            ended = Run.objects.filter(status=Run.Status.ENDED).count()
            print(
                f"{label}: {ended} runs in {wall:.2f} s, {ended / wall:.0f} runs/s, CPU {cpu / ended * 1000:.3f} ms/run"
            )
        batches = one_round()
        _profile(lambda: execute(batches), 1)
        engine.shutdown(5)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("api", "dashboard", "executor"))
    parser.add_argument("--repeat", type=int, default=200, help="requests per timing and profile (executor: x10 runs)")
    args = parser.parse_args()
    ctx = prepare(out=ROOT / "var" / "bench", smoke=False)
    {"api": api, "dashboard": dashboard, "executor": executor}[args.what](ctx, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
