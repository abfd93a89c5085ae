"""What the benchmarks share: the run context, the target and worker processes, tables, statistics.

Every process started here runs in a process group of its own and is stopped by that group's id;
every wait has a deadline.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import connection, transaction

ROOT = Path(__file__).resolve().parent.parent
CELERY = Path(sys.executable).with_name("celery")


@dataclass
class Context:
    """How a benchmark runs: full size or smoke, where workers connect, where results go."""

    smoke: bool
    out_dir: Path
    worker_env: dict[str, str]  # environment of every worker: DATABASE_URL, broker, settings
    broker_url: str
    repeat: int = 3
    max_load: float = 1.5  # wait (bounded) for the 1-minute load to drop below this before a run
    sizes: tuple[int, ...] = ()  # overrides a benchmark's sizes (N), for exploring
    runs: int = 0  # B3 and B6: runs in the history (0: their default, 1,000,000)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        print(f"  note: {text}", flush=True)
        self.notes.append(text)

    def log(self, text: str) -> None:
        print(f"  {text}", flush=True)


# --- Processes ------------------------------------------------------------------------------


class Proc:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.stop_seconds = 0.0
        self.stop_signal = signal.SIGTERM
        self.stop_grace = 10.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, ready: Callable[[str], bool] | None, timeout: float = 60) -> Proc:
        """Launch; with `ready`, wait until the log satisfies it."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if ready is not None:
            self.wait_ready(ready, timeout)
        return self

    def wait_ready(self, ready: Callable[[str], bool], timeout: float = 60) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            if ready(self.text()):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not get ready in {timeout} s:\n{self.tail()}")

    def text(self) -> str:
        return self.log_path.read_bytes().decode(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def stop(self, grace: float | None = None) -> None:
        grace = self.stop_grace if grace is None else grace
        if self.process is None or self.process.poll() is not None:
            return
        started = time.monotonic()
        try:
            # The main process only, so it stops its pool and beat itself. Workers get QUIT (Celery's
            # cold shutdown) and 1.5 s before KILL: a warm shutdown took 3-6 s, and nothing is
            # measured after a stop.
            self.process.send_signal(self.stop_signal)
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of its group
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self.stop_seconds = round(time.monotonic() - started, 2)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat: sample twice for a busy share."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total, 2) if total else None


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Target:
    """The responder (bench/responder.py) in a process of its own."""

    def __init__(self, ctx: Context, name: str = "responder") -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = Proc(name, [sys.executable, "-m", "bench.responder"], env, ctx.out_dir / "logs")
        self.port = 0

    def __enter__(self) -> Target:
        self.proc.start(lambda text: "listening " in text, timeout=20)
        self.port = int(self.proc.text().split("listening ", 1)[1].split()[0])
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.stop(grace=3)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def receipts(self) -> list[tuple[str, float]]:
        with urllib.request.urlopen(self.url("/__receipts"), timeout=30) as response:  # noqa: S310 - loopback
            return [(key, at) for key, at in json.loads(response.read())]


@dataclass(frozen=True)
class WorkerSpec:
    name: str  # its --hostname is name@host
    beat: bool = True
    concurrency: int = 2
    include: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # extra environment, e.g. engine tuning
    queues: str = ""  # -Q: e.g. "clock" for make run's beat worker, "celery" for its executor


def _worker_ready(beat: bool) -> Callable[[str], bool]:
    return lambda text: " ready." in text and (not beat or "beat: Starting" in text)


def start_workers(ctx: Context, specs: Sequence[WorkerSpec], timeout: float = 60) -> list[Proc]:
    """`celery -A config worker [-B]` per spec, launched together; returns once all (and beat) are ready."""
    procs = []
    for spec in specs:
        argv = [str(CELERY), "-A", "config", "worker", "--loglevel=INFO", f"--concurrency={spec.concurrency}"]
        argv += [f"--hostname={spec.name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        argv += ["-B"] if spec.beat else []
        argv += ["-Q", spec.queues] if spec.queues else []
        for module in spec.include:
            argv += ["-I", module]
        env = {**ctx.worker_env, **dict(spec.env)}
        proc = Proc(spec.name, argv, env, ctx.out_dir / "logs")
        proc.stop_signal, proc.stop_grace = signal.SIGQUIT, 1.5
        procs.append(proc.start(None))
    try:
        for proc, spec in zip(procs, specs, strict=True):
            proc.wait_ready(_worker_ready(spec.beat), timeout)
    except BaseException:
        for proc in procs:
            proc.stop()
        raise
    return procs


def start_worker(ctx: Context, name: str, **options: Any) -> Proc:
    return start_workers(ctx, [WorkerSpec(name, **options)])[0]


def purge_broker(ctx: Context) -> int:
    """Drop every message left in the default queue (ETA leftovers of a stopped worker)."""
    from config.celery import app

    with app.connection_for_write(ctx.broker_url) as broker:
        return app.control.purge(connection=broker) or 0


# --- Database -------------------------------------------------------------------------------

ENGINE_TABLES = (  # every table that refers to a job or a run, dependents first
    "alerts_delivery",
    "alerts_incident",
    "alerts_alertrule_channels",
    "alerts_alertrule",
    "jobs_jobcalendar",
    "history_runlink",
    "history_runstep",
    "history_runhourly",
    "history_runbaseline",
    "history_run",
    "jobs_jobtrigger",
    "jobs_jobstep",
    "jobs_job",
)


def clear_jobs() -> None:
    """Empty the run and job tables (teams, users and keys stay)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(ENGINE_TABLES)}")
            cursor.execute("DROP TABLE IF EXISTS bench_dataset")  # bench.dataset's marker: the rows are gone
        else:
            with transaction.atomic():
                for table in ENGINE_TABLES:
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names


def analyze(*tables: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}" if tables else "VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def bench_team(slug: str = "bench") -> Any:
    from jobs.models import Team

    team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
    return team


def server_versions() -> dict[str, str]:
    versions = {"cores": str(os.cpu_count()), "python": sys.version.split()[0], "database": connection.vendor}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            versions["postgresql"] = cursor.fetchone()[0]
        else:
            cursor.execute("SELECT sqlite_version()")
            versions["sqlite"] = cursor.fetchone()[0]
    return versions


# --- Time and load --------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def whole_second_after(seconds: float) -> datetime:
    """The first whole second at least `seconds` from now."""
    moment = utcnow() + timedelta(seconds=seconds)
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def staging_time(env: dict[str, str] | tuple[tuple[str, str], ...] = ()) -> float:
    """Seconds a slot must be ahead of now for the workers to stage its runs in time: their
    look-ahead (the worker environment's, else this process's setting) plus a margin."""
    from django.conf import settings

    configured = dict(env).get("HOURGLASS_DISPATCH_LOOKAHEAD_MS")
    lookahead_ms = int(configured) if configured else settings.HOURGLASS_DISPATCH_LOOKAHEAD_MS
    return lookahead_ms / 1000 + 1.5


def minute_after(seconds: float) -> datetime:
    """The first whole minute at least `seconds` from now."""
    moment = utcnow() + timedelta(seconds=seconds)
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """check() until truthy or the deadline; returns its last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value


def wait_for_quiet(ctx: Context, timeout: float = 300) -> float:
    """Before a full-size run: wait (bounded) for the 1-minute load to drop below ctx.max_load."""
    if ctx.smoke:
        return os.getloadavg()[0]
    deadline = time.monotonic() + timeout
    load = os.getloadavg()[0]
    while load >= ctx.max_load and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    if load >= ctx.max_load:
        ctx.note(f"1-minute load still {load:.2f} after waiting {timeout:.0f} s; measured anyway")
    return load


# --- Statistics -----------------------------------------------------------------------------


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile; math.inf entries (never happened) sort last."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(percent / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def summary_ms(values_s: Sequence[float]) -> dict[str, float | None]:
    """p50/p99/max in milliseconds of durations in seconds (None where a value never happened)."""

    def ms(value: float) -> float | None:
        return None if math.isinf(value) or math.isnan(value) else round(value * 1000, 1)

    return {
        "p50_ms": ms(percentile(values_s, 50)),
        "p99_ms": ms(percentile(values_s, 99)),
        "max_ms": ms(max(values_s)) if values_s else None,
    }


def timed(operation: Callable[[], Any], repeat: int, warmup: int = 1) -> list[float]:
    """Seconds per call of `operation`, after `warmup` untimed calls."""
    for _ in range(warmup):
        operation()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        operation()
        times.append(time.perf_counter() - started)
    return times


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or baseline == 0 or math.isinf(value) or math.isnan(value):
        return None
    return round(value / baseline, 2)


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text}{unit}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += [
        "| " + " | ".join(fmt(cell) if not isinstance(cell, str) else cell for cell in row) + " |" for row in rows
    ]
    return "\n".join(lines)


def verdict(met: bool | None) -> str:
    return "met" if met else ("missed" if met is not None else "not measured")


def goal_lines(goals: dict[str, dict[str, Any]]) -> list[str]:
    """One line per goal, `- <goal>: **met**/**missed** (<figures>)`, as docs/benchmarks.md quotes them."""
    return [f"- {goal}: **{verdict(outcome['met'])}** ({outcome})" for goal, outcome in goals.items()]


def sized(name: str, ctx: Context) -> str:
    """A result's name, with the history size when it is not the default (b3_history_api_10m)."""
    if not ctx.runs or ctx.runs == 1_000_000:
        return name
    return f"{name}_{ctx.runs // 1_000_000}m" if ctx.runs % 1_000_000 == 0 else f"{name}_{ctx.runs}"


def save(ctx: Context, name: str, result: dict[str, Any], markdown: str) -> None:
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    result = {**result, "smoke": ctx.smoke, "notes": list(ctx.notes), "at": utcnow().isoformat()}
    (ctx.out_dir / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    (ctx.out_dir / f"{name}.md").write_text(markdown + "\n")
    ctx.notes.clear()


# --- Jobs for the engine benchmarks ---------------------------------------------------------


def make_jobs(
    team: Any, urls: Sequence[str], *, prefix: str = "b", timeout_ms: int = 10000, cron: str = ""
) -> list[Any]:
    """One every-minute HTTP job per URL (an interval, or `cron`), enabled but not yet due (arm() gives the slot)."""
    from jobs.models import Job, JobStep

    jobs = [
        Job(
            team=team,
            natural_id=f"{prefix}-{index}",
            name=f"{prefix} {index}",
            schedule_kind=Job.Kind.CRON if cron else Job.Kind.INTERVAL,
            cron_expression=cron,
            interval_seconds=None if cron else 60,
            next_run_at=None,
            keep_runs=100,
        )
        for index in range(len(urls))
    ]
    Job.objects.bulk_create(jobs, batch_size=1000)
    steps = [
        JobStep(
            job=job,
            name="main",
            kind="http",
            position=0,
            config={"method": "GET", "url": url, "headers": {}, "body": "", "timeout_ms": timeout_ms},
        )
        for job, url in zip(jobs, urls, strict=True)
    ]
    JobStep.objects.bulk_create(steps, batch_size=1000)
    return jobs


def arm(slot: datetime, **filters: Any) -> int:
    """Make every (matching) job due at `slot`, in one statement."""
    from jobs.models import Job

    return Job.objects.filter(**filters).update(enabled=True, run_at=slot, next_run_at=slot)


def disarm(**filters: Any) -> int:
    """Stop (matching) jobs from firing again."""
    from jobs.models import Job

    return Job.objects.filter(**filters).update(enabled=False, next_run_at=None)


def collect_receipts(target: Target, keys: set[str], deadline_at: float, poll: float = 0.25) -> dict[str, float]:
    """First arrival time (epoch s) per key, until every key arrived or the wall clock passes deadline_at."""
    first: dict[str, float] = {}
    while True:
        for key, at in target.receipts():
            if key in keys and key not in first:
                first[key] = at
        if len(first) >= len(keys) or time.time() >= deadline_at:
            return first
        time.sleep(poll)
