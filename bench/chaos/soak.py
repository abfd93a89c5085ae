"""`make chaos`: a bounded soak under faults, then the invariant checker.

Everything it runs is its own, under var/chaos/ (the machine's shared PostgreSQL, Redis and
RabbitMQ are never touched):
- PostgreSQL (initdb, a free port) and the broker: redis-server, or with CHAOS_BROKER=rabbitmq a
  rabbitmq-server node of its own;
- a TCP proxy (bench/chaos/proxy.py) between the executor workers and PostgreSQL, and between
  them and the broker;
- 2 executor workers (`-Q celery`, distinct --hostname), 2 clock workers with beat at once
  (`-B -Q clock`), the web tier (gunicorn), and the logging target (bench/chaos/target.py);
- the load: interval jobs at 1–5 s and every-minute cron jobs, some with retries, some with
  overlap `forbid`, some whose targets fail, hang or answer slowly; the API polled all along.

Faults come from four streams at once (worker and beat processes; PostgreSQL and the broker
themselves; the workers' link to PostgreSQL; their link to the broker), each one fault every
20–40 s after the last one ended, the kinds of a stream dealt from a seeded deck so that each
comes round as often as the others; so faults overlap, as real ones do. After CHAOS_MINUTES the faults stop,
scheduling stops, the system settles (bounded), and the checker (bench/chaos/checker.py) reads
the run table and the target's log. Exit status 1 when an invariant is broken.

Settings (environment): CHAOS_MINUTES (10), CHAOS_SEED (20261201), CHAOS_BROKER (redis |
rabbitmq), CHAOS_INTERVAL_JOBS (500), CHAOS_CRON_JOBS (500), CHAOS_GAP_SECONDS (20-40: the pause
between two faults of one stream), CHAOS_OUT (var/chaos).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.chaos import checker, proxy
from bench.chaos.services import Postgres, RabbitMQ, Redis, free_port
from bench.common import CELERY, ROOT, Proc

LEASE_GRACE_SECONDS = 30  # the default
REPUBLISH_AFTER_SECONDS = 10
SHUTDOWN_GRACE_SECONDS = 10
REAP_EVERY_SECONDS = 10
HANG_TIMEOUT_MS = 3000


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def log(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


class Soak:
    def __init__(self) -> None:
        self.minutes = float(os.environ.get("CHAOS_MINUTES", "10") or 10)
        self.seed = env_int("CHAOS_SEED", 20261201)
        self.broker_kind = os.environ.get("CHAOS_BROKER", "redis").strip().lower() or "redis"
        if self.broker_kind not in {"redis", "rabbitmq"}:
            raise SystemExit("CHAOS_BROKER must be redis or rabbitmq")
        self.interval_jobs = env_int("CHAOS_INTERVAL_JOBS", 500)
        self.cron_jobs = env_int("CHAOS_CRON_JOBS", 500)
        low, _, high = os.environ.get("CHAOS_GAP_SECONDS", "20-40").partition("-")
        self.gap = (float(low), float(high or low))
        self.out = Path(os.environ.get("CHAOS_OUT", str(ROOT / "var" / "chaos"))).resolve()
        self.random = random.Random(self.seed)
        self.faults: list[checker.Fault] = []
        self.polls: list[checker.Poll] = []
        self.stop_faults = threading.Event()
        self.stop_polls = threading.Event()
        self.lock = threading.Lock()  # restarts of one process never overlap
        self.procs: dict[str, Proc] = {}

    # --- set-up -------------------------------------------------------------------------------

    def start_services(self) -> None:
        if self.out.exists():
            import shutil

            shutil.rmtree(self.out)
        (self.out / "logs").mkdir(parents=True)
        self.pg = Postgres(self.out / "pg")
        self.pg.init()
        log(f"PostgreSQL on {self.pg.port}")
        self.broker: Redis | RabbitMQ = (Redis if self.broker_kind == "redis" else RabbitMQ)(self.out / "broker")
        self.broker.init()
        log(f"{self.broker_kind} on {self.broker.port}")
        self.proxy = Proc(
            "proxy",
            [sys.executable, "-m", "bench.chaos.proxy"]
            + ["--route", f"pg=127.0.0.1:{self.pg.port}", "--route", f"broker=127.0.0.1:{self.broker.port}"],
            {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
            self.out / "logs",
        )
        self.proxy.start(lambda text: "control " in text, timeout=20)
        words = self.proxy.text().split()
        self.proxy_ports = {words[i + 1]: int(words[i + 2]) for i, word in enumerate(words) if word == "route"}
        self.control_port = int(words[words.index("control") + 1])
        self.target = Proc(
            "target",
            [sys.executable, "-m", "bench.chaos.target", "--log", str(self.out / "target.jsonl")],
            {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
            self.out / "logs",
        )
        self.target.start(lambda text: "listening " in text, timeout=20)
        self.target_port, self.slow_target_port = map(int, self.target.text().split("listening ", 1)[1].split()[:2])

    def environment(self, *, via_proxy: bool) -> dict[str, str]:
        pg_port = self.proxy_ports["pg"] if via_proxy else self.pg.port
        broker_port = self.proxy_ports["broker"] if via_proxy else self.broker.port
        database = f"postgres://postgres@127.0.0.1:{pg_port}/hourglass"
        if self.broker_kind == "redis":
            broker = {"REDIS_URL": f"redis://127.0.0.1:{broker_port}/0"}
        else:
            broker = {"BROKER_URL": f"amqp://guest:guest@127.0.0.1:{broker_port}//"}
        env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "HOURGLASS_"))}
        for name in ("BROKER_URL", "REDIS_URL", "DATABASE_URL"):
            env.pop(name, None)
        env.update(
            {
                "DATABASE_URL": database,
                **broker,
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DEBUG": "false",
                "SECRET_KEY": "chaos-only-not-a-secret-" + "x" * 32,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SECURE_SSL_REDIRECT": "false",
                "SECURE_COOKIES": "false",
                "SECURE_HSTS_SECONDS": "0",
                "HOURGLASS_ALLOW_LOOPBACK": "true",
                "HOURGLASS_VAR_DIR": str(self.out / "var"),
                "HOURGLASS_THROTTLE_KEY": "1000000/minute",
                "HOURGLASS_LEASE_GRACE_SECONDS": str(LEASE_GRACE_SECONDS),
                "HOURGLASS_REPUBLISH_AFTER_SECONDS": str(REPUBLISH_AFTER_SECONDS),
                "HOURGLASS_SHUTDOWN_GRACE_SECONDS": str(SHUTDOWN_GRACE_SECONDS),
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def setup_django(self) -> None:
        os.environ.update(self.environment(via_proxy=False))
        import django

        django.setup()
        from django.core.management import call_command

        from jobs.engine.clock import install_system_tasks

        call_command("migrate", verbosity=0, interactive=False)
        install_system_tasks(every={"reap": REAP_EVERY_SECONDS})

    def create_load(self) -> None:
        from jobs.models import Job, JobStep, Team
        from jobs.services import apikey_create

        team = Team.objects.create(slug="chaos", name="Chaos")
        _, self.api_key = apikey_create(team=team, name="poller", scopes=["job:read"])
        rng = random.Random(self.seed + 1)
        first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
        self.load_start = first
        jobs, steps = [], []
        base = f"http://127.0.0.1:{self.target_port}"
        slow_base = f"http://127.0.0.1:{self.slow_target_port}"
        total = self.interval_jobs + self.cron_jobs
        for index in range(total):
            cron = index >= self.interval_jobs
            roll = rng.random()
            route, timeout_ms = "ok", 10_000
            if roll < 0.05:
                route = "fail"
            elif roll < 0.15:
                route = "flaky"
            elif roll < 0.25:
                route = f"slow?ms={rng.randint(500, 3000)}&"
            elif roll < 0.30:
                route, timeout_ms = "hang", HANG_TIMEOUT_MS
            path, _, query = route.partition("?")
            natural = f"chaos-{index}"
            origin = slow_base if path in ("slow", "hang") else base
            url = f"{origin}/{path}/{natural}?{query}slot={{{{ scheduled_for }}}}&attempt={{{{ attempt }}}}"
            interval = rng.randint(1, 5)
            job = Job(
                team=team,
                natural_id=natural,
                name=natural,
                schedule_kind=Job.Kind.CRON if cron else Job.Kind.INTERVAL,
                cron_expression="* * * * *" if cron else "",
                interval_seconds=None if cron else interval,
                run_at=None if cron else first,
                next_run_at=(first.replace(second=0) + timedelta(minutes=1)) if cron else first,
                enabled=True,
                keep_runs=100_000,
                retry_limit=2 if rng.random() < 0.4 or path in ("fail", "flaky") else 0,
                backoff_strategy="constant",
                backoff_base_seconds=1,
                overlap_policy="forbid" if rng.random() < 0.1 else "allow",
                misfire_grace_seconds=5 if rng.random() < 0.1 else 60,
            )
            jobs.append(job)
            steps.append(
                JobStep(
                    job=job,
                    name="main",
                    kind="http",
                    position=0,
                    config={"method": "GET", "url": url, "headers": {}, "body": "", "timeout_ms": timeout_ms},
                )
            )
        Job.objects.bulk_create(jobs, batch_size=1000)
        JobStep.objects.bulk_create(steps, batch_size=1000)
        self.first_job_id = str(jobs[0].pk)
        log(f"{self.interval_jobs} interval jobs (1-5 s) and {self.cron_jobs} cron jobs, first slot {first:%H:%M:%S}")

    # --- processes ----------------------------------------------------------------------------

    def _celery(self, name: str, *, clock: bool) -> Proc:
        argv = [str(CELERY), "-A", "config", "worker", "--loglevel=INFO", "--without-gossip", "--without-mingle"]
        if clock:
            argv += ["-B", "-Q", "clock", "--concurrency=1", f"--hostname={name}@chaos-{name}"]
            argv += ["--schedule", str(self.out / f"{name}-beat-schedule")]
        else:
            argv += ["-Q", "celery", "--concurrency=2", f"--hostname={name}@chaos-{name}"]
        proc = Proc(name, argv, self.environment(via_proxy=not clock), self.out / "logs")
        proc.stop_signal, proc.stop_grace = signal.SIGTERM, SHUTDOWN_GRACE_SECONDS + 15
        return proc

    def _ready(self, name: str) -> Any:
        clock = name.startswith("clock")
        return lambda text: text.count(" ready.") > 0 and (not clock or "beat: Starting" in text)

    def start_process(self, name: str) -> None:
        if name == "web":
            port = self.web_port
            argv = [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi", "--bind", f"127.0.0.1:{port}"]
            argv += ["--workers", "2", "--threads", "4", "--timeout", "30"]
            proc = Proc("web", argv, self.environment(via_proxy=False), self.out / "logs")
            ready = lambda text: "Booting worker" in text  # noqa: E731
        else:
            proc = self._celery(name, clock=name.startswith("clock"))
            ready = self._ready(name)
        # Each start appends to the process's log: Proc truncates, so keep the old one.
        if proc.log_path.exists():
            with (self.out / "logs" / f"{name}.all.log").open("ab") as keep:
                keep.write(proc.log_path.read_bytes())
        proc.start(None)
        self.procs[name] = proc
        proc.wait_ready(ready, timeout=90)

    def start_processes(self) -> None:
        self.web_port = free_port()
        threads = [threading.Thread(target=self.start_process, args=(name,)) for name in self.process_names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        log("2 executors, 2 clocks (beat), web ready")

    @property
    def process_names(self) -> list[str]:
        return ["exec-a", "exec-b", "clock-a", "clock-b", "web"]

    def ensure_processes(self) -> None:
        """Every process alive (restarted if a fault left it dead)."""
        for name in self.process_names:
            proc = self.procs.get(name)
            if proc is None or proc.process is None or proc.process.poll() is not None:
                log(f"{name} was not running: restarting it")
                self.start_process(name)

    # --- faults -------------------------------------------------------------------------------

    def record(self, kind: str, started: float, detail: str = "") -> None:
        fault = checker.Fault(kind, started, time.time(), detail)
        with self.lock:
            self.faults.append(fault)
        log(f"fault {kind} {detail} ({fault.ended - started:.1f} s)")

    def _kill_group(self, proc: Proc) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        assert proc.process is not None
        proc.process.wait(20)

    def worker_kill9(self, rng: random.Random) -> None:
        name = rng.choice(["exec-a", "exec-b"])
        started = time.time()
        self._kill_group(self.procs[name])
        time.sleep(rng.uniform(2, 5))
        self.start_process(name)
        self.record("worker_kill9", started, name)

    def worker_sigterm(self, rng: random.Random) -> None:
        name = rng.choice(["exec-a", "exec-b"])
        proc = self.procs[name]
        started = time.time()
        assert proc.process is not None
        proc.process.send_signal(signal.SIGTERM)
        try:
            proc.process.wait(SHUTDOWN_GRACE_SECONDS + 20)
            detail = f"{name} exited in {time.time() - started:.1f} s"
        except subprocess.TimeoutExpired:
            detail = f"{name} still running {SHUTDOWN_GRACE_SECONDS + 20} s after SIGTERM: killed"
        self._kill_group(proc)
        self.start_process(name)
        self.record("worker_sigterm", started, detail)

    def beat_kill9(self, rng: random.Random) -> None:
        name = rng.choice(["clock-a", "clock-b"])
        started = time.time()
        self._kill_group(self.procs[name])
        time.sleep(rng.uniform(2, 5))
        self.start_process(name)
        self.record("beat_kill9", started, name)

    def broker_restart(self, rng: random.Random, flush: bool) -> None:
        started = time.time()
        self.broker.kill()
        down = rng.uniform(5, 15)
        time.sleep(down)
        self.broker.start()
        if flush:
            self.broker.flush()
        kind = f"{self.broker_kind}_kill_restart" + ("_flush" if flush else "")
        self.record(kind, started, f"down {down:.0f} s")

    def pg_stop(self, rng: random.Random, mode: str) -> None:
        started = time.time()
        self.pg.stop(mode)
        down = rng.uniform(5, 15)
        time.sleep(down)
        self.pg.start()
        self.record(f"pg_stop_{mode}", started, f"down {down:.0f} s")

    def cut(self, rng: random.Random, route: str, mode: str) -> None:
        seconds = min(rng.uniform(5, 30), max(5.0, self.faults_until - time.time() - 5))
        delay = round(rng.uniform(0.2, 2.0), 2) if mode == "delay" else 0.0
        started = time.time()
        proxy.command(self.control_port, f"{route} {mode} {delay}")
        try:
            self.stop_faults.wait(seconds)
        finally:
            proxy.command(self.control_port, f"{route} pass")
        detail = f"{seconds:.0f} s" + (f", {delay} s per chunk" if delay else "")
        self.record(f"proxy_{route}_{mode}", started, detail)

    def streams(self) -> dict[str, list[tuple[str, Any]]]:
        restart = "rabbitmq" if self.broker_kind == "rabbitmq" else "redis"
        return {
            "processes": [
                ("worker_kill9", self.worker_kill9),
                ("worker_sigterm", self.worker_sigterm),
                ("beat_kill9", self.beat_kill9),
            ],
            "services": [
                (f"{restart}_kill_restart", lambda rng: self.broker_restart(rng, flush=False)),
                (f"{restart}_kill_restart_flush", lambda rng: self.broker_restart(rng, flush=True)),
                ("pg_stop_fast", lambda rng: self.pg_stop(rng, "fast")),
                ("pg_stop_immediate", lambda rng: self.pg_stop(rng, "immediate")),
            ],
            **{
                f"{route} link": [
                    (f"proxy_{route}_{mode}", lambda rng, route=route, mode=mode: self.cut(rng, route, mode))
                    for mode in ("blackhole", "reset", "delay")
                ]
                for route in ("pg", "broker")
            },
        }

    def run_stream(self, name: str, kinds: list[tuple[str, Any]], until: float) -> None:
        """One fault every 20-40 s, the kinds dealt from a seeded deck so each comes round evenly."""
        rng = random.Random(f"{self.seed}-{name}")
        deck: list[tuple[str, Any]] = []
        while not self.stop_faults.wait(rng.uniform(*self.gap)):
            if time.time() + 20 > until:  # a fault and its recovery end before `until` (cuts are cut short)
                return
            if not deck:
                deck = list(kinds)
                rng.shuffle(deck)
            kind, inject = deck.pop()
            try:
                inject(rng)
            except Exception as exc:  # the soak goes on; the fault is logged
                log(f"fault {kind} failed to inject: {type(exc).__name__}: {exc}")

    # --- the API poller -----------------------------------------------------------------------

    def poll_api(self) -> None:
        paths = ["/api/jobs?limit=20", f"/api/jobs/{self.first_job_id}/history?limit=10"]
        turn = 0
        while not self.stop_polls.wait(0.5):
            url = f"http://127.0.0.1:{self.web_port}{paths[turn % 2]}"
            turn += 1
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.api_key}"})
            at = time.time()
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
                    response.read()
                    status: int | None = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (OSError, urllib.error.URLError):
                status = None
            self.polls.append(checker.Poll(at, status))

    # --- the run ------------------------------------------------------------------------------

    def settle(self, timeout: float) -> float:
        """Wait (bounded) until no run is pending or running; returns the seconds it took."""
        from django.db import connection

        from history.models import Run

        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            try:
                if not Run.objects.filter(status__in=["pending", "running"]).exists():
                    break
            except Exception:  # the connection of before a restart
                connection.close()
            time.sleep(1)
        return round(time.monotonic() - started, 1)

    def stop_scheduling(self) -> dict[str, datetime]:
        """Clear every soak job's next_run_at; returns where each job's dispatching had got to.

        A slot before that point is one the dispatcher passed, so it must have its run; a later
        one was never reached (the dispatcher was behind), which is lateness, not a lost slot.
        """
        from django.db import OperationalError, connection

        # FOR NO KEY UPDATE, the lock the UPDATE itself takes: FOR UPDATE would also block the
        # foreign-key checks of the runs the engines are still inserting and writing (KEY SHARE on
        # their job), and a writer holding one job while it waits for another deadlocks with this.
        deadlocks = 0
        while True:
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "WITH old AS (SELECT j.id, j.next_run_at FROM jobs_job j JOIN jobs_team t ON "
                        "t.id = j.team_id WHERE t.slug = 'chaos' ORDER BY j.id FOR NO KEY UPDATE OF j) "
                        "UPDATE jobs_job SET next_run_at = NULL FROM old WHERE jobs_job.id = old.id "
                        "RETURNING old.id, old.next_run_at"
                    )
                    return {str(job_id): reached for job_id, reached in cursor.fetchall() if reached is not None}
            except OperationalError as exc:  # a deadlock with an engine's transaction: PostgreSQL chose us
                deadlocks += 1
                if deadlocks == 5 or "deadlock" not in str(exc):
                    raise
                log(f"stopping the schedules met a deadlock ({exc}); again")
                time.sleep(0.5)

    def collect(self, reached: dict[str, datetime], window_end: datetime) -> checker.Report:
        from history.models import Run
        from jobs.models import Job
        from jobs.schedules import next_fire

        expected: dict[str, list[datetime]] = {}
        for job in Job.objects.filter(team__slug="chaos"):
            schedule = job.schedule
            slot = self.first_slots[str(job.pk)]
            slots = []
            end = min(window_end, reached.get(str(job.pk), window_end))
            while slot is not None and slot < end:
                slots.append(slot)
                slot = next_fire(schedule, slot)
            expected[str(job.pk)] = slots
        fields = ["id", "job_id", "scheduled_for", "attempt", "retry_of_id", "status", "end_reason", "started_at"]
        runs = [
            checker.RunRow(
                id=str(row["id"]),
                job_id=str(row["job_id"]),
                scheduled_for=row["scheduled_for"],
                attempt=row["attempt"],
                retry_of_id=str(row["retry_of_id"]) if row["retry_of_id"] else None,
                status=row["status"],
                end_reason=row["end_reason"],
                started_at=row["started_at"],
                data=row["data"] or {},
                error=row["error"] or "",
            )
            for row in Run.objects.filter(triggered_by="cron").values(*fields, "data", "error").iterator()
        ]
        deliveries = []
        for line in (self.out / "target.jsonl").read_text().splitlines():
            try:
                entry = json.loads(line)
                deliveries.append(checker.Delivery(entry["at"], entry["key"], int(entry["attempt"] or 0)))
            except (ValueError, KeyError):
                continue
        report = checker.check(expected, runs, deliveries, self.faults, self.polls)
        return report

    def run(self) -> int:
        started = time.monotonic()
        log(f"chaos soak: {self.minutes:g} min, seed {self.seed}, broker {self.broker_kind}")
        try:
            self.start_services()
            self.setup_django()
            self.create_load()
            from jobs.models import Job

            self.first_slots = {str(pk): at for pk, at in Job.objects.values_list("pk", "next_run_at")}
            self.start_processes()
            poller = threading.Thread(target=self.poll_api, daemon=True)
            poller.start()
            load_start = self.load_start.timestamp()
            end = load_start + self.minutes * 60
            faults_until = self.faults_until = end - 20
            time.sleep(max(0.0, load_start + 20 - time.time()))  # a calm start
            streams = [
                threading.Thread(target=self.run_stream, args=(name, kinds, faults_until), daemon=True)
                for name, kinds in self.streams().items()
            ]
            for thread in streams:
                thread.start()
            time.sleep(max(0.0, faults_until - time.time()))
            self.stop_faults.set()
            for thread in streams:
                thread.join(90)
            proxy.command(self.control_port, "pg pass")
            proxy.command(self.control_port, "broker pass")
            if not self.pg.running():
                self.pg.start()
            self.ensure_processes()
            time.sleep(max(0.0, end - time.time()))
            from django.db import connection

            connection.close()
            stopped_at = datetime.now(UTC)
            reached = self.stop_scheduling()
            behind = sum(1 for at in reached.values() if at < stopped_at - timedelta(seconds=15))
            if behind:
                log(f"{behind} jobs' dispatching was more than 15 s behind when scheduling stopped")
            log("scheduling stopped; settling")
            settled = self.settle(timeout=180)
            log(f"settled in {settled} s")
            self.stop_polls.set()
            poller.join(10)
            # Slots up to the look-ahead before the stop were dispatched in calm; later ones may not be.
            report = self.collect(reached, stopped_at - timedelta(seconds=15))
        finally:
            self.shutdown()
        text = checker.render(report)
        kinds = Counter(fault.kind for fault in self.faults)
        header = (
            f"seed {self.seed}, {self.minutes:g} min, broker {self.broker_kind}, "
            f"{self.interval_jobs} interval + {self.cron_jobs} cron jobs, {sum(kinds.values())} faults, "
            f"settled in {settled} s, wall {time.monotonic() - started:.0f} s"
        )
        print("\n" + header + "\n\n" + text, flush=True)
        (self.out / "report.md").write_text(header + "\n\n" + text + "\n")
        summary = {
            "seed": self.seed,
            "minutes": self.minutes,
            "broker": self.broker_kind,
            "faults": [asdict(fault) for fault in self.faults],
            "invariants": report.invariants(),
            "outcomes": dict(report.outcomes),
            "lateness": report.lateness,
            "api": report.api,
            "per_fault": report.per_fault,
            "duplicates": {"total": report.duplicate_deliveries, "explained": dict(report.duplicates_explained)},
        }
        (self.out / "report.json").write_text(json.dumps(summary, indent=2, default=str))
        return 0 if report.ok else 1

    def shutdown(self) -> None:
        proc: Proc | None
        for proc in self.procs.values():
            try:
                proc.stop(grace=5)
            except Exception:  # noqa: S110 - stopping everything regardless
                pass
        for name in ("proxy", "target"):
            proc = getattr(self, name, None)
            if proc is not None:
                proc.stop(grace=3)
        for service in ("broker", "pg"):
            server = getattr(self, service, None)
            if server is not None:
                server.shutdown()


def main() -> int:
    return Soak().run()


if __name__ == "__main__":
    raise SystemExit(main())
