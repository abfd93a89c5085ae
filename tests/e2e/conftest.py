"""End-to-end fixtures: a real `celery -A config worker -B` subprocess on the session's test database.

- SQLite: the test database becomes a file in a per-session temp dir (set here, at import, before
  pytest-django creates it), so the worker can open the same file.
- PostgreSQL: the worker gets DATABASE_URL naming pytest-django's test database.
- Broker: filesystem:// in the per-session temp dir; when REDIS_URL is set, a Redis database
  this session claims (and empties) so leftovers of another run cannot leak in; when
  BROKER_URL (or CELERY_BROKER_URL) is amqp://, a RabbitMQ virtual host of the session's own.
- Beat: the system periodic tasks from the clock migration; `reap` every 2 s instead of 30 s so
  the crash test stays short. transactional_db empties every table after each test, so each
  worker fixture installs them again.
Every wait is bounded; workers are stopped by process group at teardown.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlparse, urlunparse

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from jobs.engine.clock import install_system_tasks

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"
SESSION_DIR = Path(tempfile.mkdtemp(prefix="hourglass-e2e-"))
VAR_DIR = SESSION_DIR / "var"
BROKER_DIR = VAR_DIR / "broker"
T = TypeVar("T")

_database = settings.DATABASES["default"]
if _database["ENGINE"].endswith("sqlite3") and not _database["TEST"].get("NAME"):
    # :memory: would be invisible to the worker process.
    _database["TEST"]["NAME"] = str(SESSION_DIR / "test.sqlite3")


def _claim_redis_db(base_url: str) -> tuple[str, Callable[[], None]]:
    """Claim a Redis database (15..1) for this session with a lock key in the base database."""
    import redis

    base = redis.Redis.from_url(base_url)
    token = uuid.uuid4().hex
    for number in range(15, 0, -1):
        lock = f"hourglass:e2e:db:{number}"
        if base.set(lock, token, nx=True, ex=3600):
            url = urlunparse(urlparse(base_url)._replace(path=f"/{number}"))
            redis.Redis.from_url(url).flushdb()

            def release(url: str = url, lock: str = lock) -> None:
                redis.Redis.from_url(url).flushdb()
                if base.get(lock) == token.encode():
                    base.delete(lock)

            return url, release
    raise RuntimeError("no free Redis database (1-15) for the e2e session")


def _claim_rabbitmq_vhost(base_url: str) -> tuple[str, Callable[[], None]]:
    """A virtual host of this session's own on the RabbitMQ at `base_url`, deleted at the end.

    Other users of that RabbitMQ (its other vhosts) are never touched. Without rabbitmqctl on
    this machine the URL's own vhost is used, emptied of the queues Hourglass declares.
    """
    parsed = urlparse(base_url)
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        _purge_queues(base_url)
        return base_url, lambda: _purge_queues(base_url)
    vhost = f"hourglass-e2e-{uuid.uuid4().hex[:12]}"
    user = unquote(parsed.username or "guest")

    def rabbitmqctl(*args: str) -> None:
        subprocess.run([ctl, "-q", *args], check=True, capture_output=True, timeout=60)

    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    url = urlunparse(parsed._replace(path=f"/{quote(vhost, safe='')}"))
    released: list[bool] = []

    def release() -> None:  # once: tests/faults re-exports pytest_unconfigure
        if not released:
            released.append(True)
            rabbitmqctl("delete_vhost", vhost)

    return url, release


def _purge_queues(url: str) -> None:
    from kombu import Connection

    with Connection(url) as broker:
        channel = broker.channel()
        for queue in settings.CELERY_TASK_QUEUES:
            try:
                channel.queue_purge(queue)
            except Exception:  # not declared yet
                channel = broker.channel()


REDIS_URL = os.environ.get("REDIS_URL", "")
SERVICE_BROKER_URL = settings.BROKER_URL  # CELERY_BROKER_URL, BROKER_URL or REDIS_URL
AMQP = SERVICE_BROKER_URL.startswith(("amqp", "pyamqp"))
if AMQP:
    BROKER_URL, _release_broker = _claim_rabbitmq_vhost(SERVICE_BROKER_URL)
    celery_app.conf.broker_url = BROKER_URL
elif REDIS_URL:
    BROKER_URL, _release_broker = _claim_redis_db(REDIS_URL)
    # Messages this process sends (run_trigger from a live server, send_task) go there too.
    celery_app.conf.broker_url = BROKER_URL
else:
    BROKER_URL, _release_broker = "filesystem://", lambda: None
    for folder in ("out", "control", "processed"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    # What config/settings.py derives from HOURGLASS_VAR_DIR, for messages this process sends.
    celery_app.conf.broker_transport_options = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "polling_interval": 0.1,
    }


def pytest_unconfigure(config: pytest.Config) -> None:
    # After pytest-django has dropped the test database (the SQLite file lives in SESSION_DIR).
    _release_broker()
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


def send_task(name: str, *args: Any) -> None:
    """Send a task through the broker the worker reads, as any process of the service would."""
    celery_app.send_task(name, args=list(args))


def wait_until(check: Callable[[], T], timeout: float, what: str, worker: Worker | None = None) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    log = f"\n--- worker log (tail) ---\n{worker.log_tail()}" if worker else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{log}")


def _database_url() -> str:
    db = connection.settings_dict  # pytest-django has switched NAME to the test database
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"])
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{quote(db['NAME'])}"


class Worker:
    """One `celery -A config worker -B` process group, its log in the session dir."""

    def __init__(self, env: dict[str, str], name: str, concurrency: int = 3) -> None:
        self.env = env
        self.name = name
        self.concurrency = concurrency
        self.log_path = SESSION_DIR / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 45) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CELERY), "-A", "config", "worker", "-B", "--loglevel=INFO", f"--concurrency={self.concurrency}"]
                + [f"--hostname={self.name}@%h", "--without-gossip", "--without-mingle"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: pool children and beat go with it
            )

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited with {self.process.returncode}\n{self.log_tail()}")
            text = self.log_path.read_bytes()[offset:].decode(errors="replace")
            return " ready." in text and "beat: Starting" in text

        wait_until(ready, timeout, "the worker to start", self)

    def kill(self) -> None:
        """kill -9 the whole worker: main process, pool children and beat, as a lost machine."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # warm shutdown of the main process
        try:
            self.process.wait(8)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of its group
        except ProcessLookupError:
            pass
        self.process.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def worker_env(transactional_db) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "HOURGLASS_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "true",
            "HOURGLASS_ALLOW_LOOPBACK": "true",  # the HTTP target listens on 127.0.0.1
            "HOURGLASS_VAR_DIR": str(VAR_DIR),
            "DATABASE_URL": _database_url(),
        }
    )
    for name in ("BROKER_URL", "REDIS_URL"):
        env.pop(name, None)
    if AMQP:
        env["BROKER_URL"] = BROKER_URL
    elif REDIS_URL:
        env["REDIS_URL"] = BROKER_URL
    return env


@pytest.fixture
def start_worker(worker_env, request) -> Iterator[Callable[..., Worker]]:
    """start_worker(concurrency=3, **env) -> a running worker; every one started is stopped at teardown."""
    install_system_tasks(every={"reap": 2})
    started: list[Worker] = []

    def start(concurrency: int = 3, **extra_env: str) -> Worker:
        name = f"e2e-{request.node.name[:40]}-{uuid.uuid4().hex[:6]}"
        worker = Worker({**worker_env, **extra_env}, name, concurrency)
        started.append(worker)
        worker.start()
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(start_worker) -> Worker:
    return start_worker()
