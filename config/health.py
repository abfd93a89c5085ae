"""GET /healthz: the database, the broker and the dispatcher, each checked within a time bound.

200 {"status": "ok", "checks": {...}} or 503 with the failing checks and their reasons. It needs
no login, so it names no host, URL or exception message: only check names, exception classes,
ages and timings.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, connections
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from kombu import Connection

from jobs.engine import heartbeat
from jobs.models import Job

CHECK_TIMEOUT_SECONDS = 2.0
Result = dict[str, Any]


def _ok(**details: Any) -> Result:
    return {"status": "ok", **details}


def _error(reason: str, **details: Any) -> Result:
    return {"status": "error", "reason": reason, **details}


def check_database() -> Result:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return _ok()


def _filesystem_broker(options: dict[str, Any]) -> Result:
    # kombu's filesystem transport "connects" even to folders that are gone; what it needs is
    # to write messages into them.
    names = ("data_folder_in", "data_folder_out", "control_folder")
    folders = {options[name] for name in names if options.get(name)}
    if not all(os.path.isdir(folder) and os.access(folder, os.W_OK) for folder in folders):
        return _error("a broker folder is missing or not writable", transport="filesystem")
    return _ok(transport="filesystem")


def _is_amqp(url: str) -> bool:
    return url.split(":", 1)[0] in {"amqp", "amqps", "pyamqp"}


def check_broker() -> Result:
    options = dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {})
    # Two tries of at most half the bound each: one lost packet does not fail the check. Without
    # a socket timeout a Redis that accepts and never answers would hold the thread for ever.
    attempt = CHECK_TIMEOUT_SECONDS / 2
    url = settings.CELERY_BROKER_URL
    # RabbitMQ (py-amqp) bounds its handshake by connect_timeout and its reads by read_timeout.
    bound = {"read_timeout": attempt, "write_timeout": attempt} if _is_amqp(url) else {"socket_timeout": attempt}
    broker = Connection(url, transport_options={**options, **bound}, connect_timeout=attempt)
    transport = broker.transport_cls if isinstance(broker.transport_cls, str) else "broker"
    transport = "amqp" if transport == "pyamqp" else transport
    try:
        if transport == "filesystem":
            return _filesystem_broker(options)
        broker.ensure_connection(
            max_retries=1,
            interval_start=0,
            interval_step=0,
            timeout=attempt,  # type: ignore[arg-type]  # kombu takes float seconds; the stub says int
        )
    except Exception as exc:
        return _error(f"unreachable ({type(exc).__name__})", transport=transport)
    finally:
        broker.release()
    return _ok(transport=transport)


def check_beat() -> Result:
    """Beat ticks `dispatch` every second and the task records when it ran (jobs.engine.heartbeat).

    Stale means beat, the broker or every worker is down. An enabled job whose slot is older than
    the same bound means the dispatcher runs but cannot keep up (or fails on that job).
    """
    now = timezone.now()
    max_age = float(settings.HOURGLASS_HEALTH_MAX_DISPATCH_AGE_SECONDS)
    enabled, last = heartbeat.last_dispatch()
    if not enabled:
        return _error("the dispatch periodic task is missing or disabled")
    if last is None:
        return _error("the dispatcher has not run yet", max_age_seconds=max_age)
    age = round((now - last).total_seconds(), 1)
    if age > max_age:
        return _error("no dispatch within the allowed age", last_dispatch_age_seconds=age, max_age_seconds=max_age)
    # job_due_idx (next_run_at) WHERE enabled
    if Job.objects.filter(enabled=True, next_run_at__lt=now - timedelta(seconds=max_age)).exists():
        return _error("a job slot is overdue beyond the allowed age", last_dispatch_age_seconds=age)
    return _ok(last_dispatch_age_seconds=age, max_age_seconds=max_age)


def _uses_database(check: Callable[[], Result]) -> Callable[[], Result]:
    def run() -> Result:
        try:
            return check()
        finally:
            connections.close_all()  # this (new) thread's connection only: the thread ends now

    return run


CHECKS: dict[str, Callable[[], Result]] = {
    "database": _uses_database(check_database),
    "broker": check_broker,
    "beat": _uses_database(check_beat),
}


def run_checks(timeout: float = CHECK_TIMEOUT_SECONDS) -> dict[str, Result]:
    """Every check at once, each in a thread of its own, so a hung one costs at most `timeout`."""
    results: dict[str, Result] = {}

    def run(name: str, check: Callable[[], Result]) -> None:
        started = time.monotonic()
        try:
            result = check()
        except Exception as exc:  # the class only: messages can carry hosts and credentials
            result = _error(f"failed ({type(exc).__name__})")
        results[name] = {**result, "ms": round((time.monotonic() - started) * 1000, 1)}

    threads = [
        threading.Thread(target=run, args=item, daemon=True, name=f"healthz-{item[0]}") for item in CHECKS.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {name: results.get(name) or _error(f"no answer within {timeout:g} s") for name in CHECKS}


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    checks = run_checks()
    failing = [name for name, result in checks.items() if result["status"] != "ok"]
    body: dict[str, Any] = {"status": "error" if failing else "ok", "checks": checks}
    if failing:
        body["failing"] = failing
    response = JsonResponse(body, status=503 if failing else 200)
    response["Cache-Control"] = "no-store"
    return response
