"""`python -m bench [b1 b2 …] [--smoke]`: run the benchmarks against PostgreSQL and Redis.

It points Django and every worker it starts at BENCH_DATABASE_URL (default: the database
bench_hourglass on the local server, created and migrated here) and BENCH_REDIS_URL (default:
Redis database 9, emptied first), with DEBUG off. Results go to var/bench/<name>.json and .md.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

BENCHES = {
    "b1": "b1_lateness",
    "b2": "b2_throughput",
    "b3": "b3_history_api",
    "b4": "b4_retention",
    "b5": "b5_memory",
    "b6": "b6_dashboard",
    "b7": "b7_isolation",
    "b8": "b8_dispatch_tick",
}
# B3 and B6 share one generated dataset, which B4 (trimming its own) replaces: it goes last.
DEFAULT_ORDER = ("b1", "b2", "b7", "b8", "b5", "b3", "b6", "b4")
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/bench_hourglass"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"


def _environment(database_url: str, redis_url: str, var_dir: Path) -> dict[str, str]:
    """The settings every process of the run shares: production-like (DEBUG off), loopback allowed."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-not-a-secret-" + "x" * 32,
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "HOURGLASS_ALLOW_LOOPBACK": "true",
        "HOURGLASS_VAR_DIR": str(var_dir),
        # The benchmarks call the API thousands of times a minute; the throttle still runs.
        "HOURGLASS_THROTTLE_KEY": "1000000/minute",
        "HOURGLASS_THROTTLE_USER": "1000000/minute",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }


def _create_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _claim_redis(url: str) -> None:
    """Take the Redis database the way the e2e sessions do (a lock key in database 0), then empty it.

    The e2e harness claims a free database among 15..1 and empties it; the lock keeps it off ours.
    """
    import redis

    parsed = urlparse(url)
    number = int(parsed.path.lstrip("/") or 0)
    if 1 <= number <= 15:
        base = redis.Redis.from_url(urlunparse(parsed._replace(path="/0")))
        lock, token = f"hourglass:e2e:db:{number}", f"bench-{os.getpid()}"
        if not base.set(lock, token, nx=True, ex=12 * 3600):
            raise SystemExit(f"Redis database {number} is in use ({base.get(lock)!r}); set BENCH_REDIS_URL")
        atexit.register(lambda: base.get(lock) == token.encode() and base.delete(lock))
    redis.Redis.from_url(url).flushdb()


def prepare(*, out: Path, **options: Any) -> Any:
    """Point this process at the benchmarks' database and Redis, migrate, and return the Context."""
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    env = _environment(database_url, redis_url, out / "var")
    os.environ.update(env)
    if database_url.startswith("postgres"):
        _create_database(database_url)
    _claim_redis(redis_url)

    import django

    django.setup()
    from django.core.management import call_command

    from bench import common

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)  # the dashboard renders with DEBUG off
    return common.Context(out_dir=out, worker_env={**os.environ, **env}, broker_url=redis_url, **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"which to run (default all): {', '.join(BENCHES)}")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check the scripts work, measure nothing")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions where a benchmark takes medians")
    parser.add_argument("--max-load", type=float, default=1.5, help="wait for the 1-minute load to drop below this")
    parser.add_argument("--sizes", default="", help="comma-separated sizes overriding the defaults (exploring)")
    parser.add_argument("--runs", type=int, default=0, help="B3 and B6: runs in the history (default 1,000,000)")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="where results go")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")

    ctx = prepare(
        out=args.out,
        smoke=args.smoke,
        repeat=args.repeat,
        max_load=args.max_load,
        sizes=tuple(int(size) for size in args.sizes.split(",") if size.strip()),
        runs=args.runs,
    )
    for name in args.names or DEFAULT_ORDER:
        module = importlib.import_module(f"bench.{BENCHES[name]}")
        print(f"== {BENCHES[name]}{' (smoke)' if args.smoke else ''}", flush=True)
        started = time.monotonic()
        module.run(ctx)
        from bench.common import sized

        sized_md = args.out / f"{sized(module.NAME, ctx)}.md"  # B3 and B6 name theirs by history size
        print((sized_md if sized_md.exists() else args.out / f"{module.NAME}.md").read_text(), flush=True)
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
