"""The soak's own PostgreSQL, Redis and RabbitMQ, under var/chaos/, on free ports.

The machine's shared services are never touched: each server here has its own data folder,
port and process (RabbitMQ: its own node name and distribution port), so the soak can kill,
stop and restart it at will. Every wait has a deadline.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(check, timeout: float, what: str) -> None:  # a predicate
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not happen within {timeout:g} s")


def ensure_installed(package: str, present: Callable[[], bool]) -> None:
    """Install a missing server with apt-get (a fresh machine), as the benchmarks do for wrk."""
    if present():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(f"{package} is missing; install it (apt-get install {package})")
    print(f"installing {package}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env, timeout=1200)
    if not present():
        raise RuntimeError(f"{package} is still missing after apt-get install")


def _as_owner(argv: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *argv] if owner else argv


class Postgres:
    """initdb into `folder`, then pg_ctl start/stop (fast or immediate) on a free port.

    PostgreSQL refuses to run as root; as root the cluster belongs to the `postgres` user.
    """

    def __init__(self, folder: Path) -> None:
        ensure_installed("postgresql", lambda: bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")))
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        self.bin = Path(found[-1]).parent
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.owner = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/hourglass"

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _as_owner([str(self.bin / argv[0]), *argv[1:]], self.owner),
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def init(self) -> None:
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        if self.owner:
            entry = pwd.getpwnam(self.owner)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.folder}'",
            "max_connections = 300",
            # The OS never crashes here, so fsync can go; synchronous_commit stays on: an immediate
            # stop must not lose a commit the service was told had happened.
            "fsync = off",
            "full_page_writes = off",
            "shared_buffers = 128MB",
            "log_min_messages = warning",
        ]
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        self.start()
        subprocess.run(
            _as_owner(
                [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "hourglass"],
                self.owner,
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and port_open(self.port)

    def shutdown(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except subprocess.SubprocessError:
                pass


class Redis:
    """redis-server on a free port with an append-only file, so a kill -9 keeps (almost) every key."""

    def __init__(self, folder: Path) -> None:
        ensure_installed("redis-server", lambda: bool(shutil.which("redis-server")))
        self.binary = shutil.which("redis-server")
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def init(self) -> None:
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.start()

    def start(self) -> None:
        argv = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        argv += ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no"]
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.ping, 20, "redis-server to start")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def flush(self) -> None:
        import redis

        redis.Redis(port=self.port, socket_timeout=5).flushall()

    def shutdown(self) -> None:
        self.kill()


class RabbitMQ:
    """A rabbitmq-server node of its own (node name, AMQP and distribution ports, data folder).

    The machine's RabbitMQ keeps running untouched; this node registers another name with the
    shared epmd, which is what epmd is for.
    """

    def __init__(self, folder: Path) -> None:
        server = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
        ensure_installed("rabbitmq-server", server.exists)
        self.server = server
        self.ctl = server.with_name("rabbitmqctl")
        self.folder = folder
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"hourglass-chaos-{self.port}@localhost"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.folder),  # its own Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_PID_FILE": str(self.folder / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq"),
            "RABBITMQ_PLUGINS_DIR": "/usr/lib/rabbitmq/plugins",
        }

    def init(self) -> None:
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        (self.folder / "enabled_plugins").write_text("[].\n")
        self.start()

    def start(self) -> None:
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.server)], env=self._env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(self.ready, 90, "rabbitmq-server to start")

    def ready(self) -> bool:
        from kombu import Connection

        if not port_open(self.port):
            return False
        try:
            with Connection(self.url, connect_timeout=2) as broker:
                broker.ensure_connection(max_retries=1)
            return True
        except Exception:  # still booting
            return False

    def kill(self) -> None:
        """kill -9 the node (the beam process and its helpers, its own process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        wait_for(lambda: not port_open(self.port), 10, "the RabbitMQ port to close")

    def flush(self) -> None:
        """Drop every message Hourglass queued (its queues purged), as a broker that lost them."""
        from kombu import Connection

        with Connection(self.url, connect_timeout=5) as broker:
            for queue in ("celery", "clock"):
                channel = broker.channel()
                try:
                    channel.queue_purge(queue)  # type: ignore[attr-defined]  # amqp's Channel; the stub has StdChannel
                except Exception:  # noqa: S110 - not declared yet
                    pass
                finally:
                    try:
                        channel.close()  # type: ignore[attr-defined]  # amqp's Channel; the stub has StdChannel
                    except Exception:  # noqa: S110 - already closed by the error
                        pass

    def shutdown(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                subprocess.run(
                    [str(self.ctl), "-n", self.node, "stop"], env=self._env(), capture_output=True, timeout=30
                )
                self.process.wait(20)
            except subprocess.SubprocessError:
                pass
        self.kill()
