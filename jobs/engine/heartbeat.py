"""The dispatcher's heartbeat: when the `dispatch` task last ran, for /healthz.

It is stored in the `dispatch` PeriodicTask's last_run_at, so every web and worker process (on
any machine) reads the same value, and the admin shows it. Beat also writes that field, but
only when it syncs (every few minutes); the task writes it each time it runs, at most once per
HEARTBEAT_EVERY so an idle tick still costs one indexed read and no write lock on SQLite.
A queryset update sends no signal, so beat does not reload its schedule for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django_celery_beat.models import PeriodicTask

DISPATCH_TASK = "dispatch"  # jobs.engine.clock.SYSTEM_TASKS
HEARTBEAT_EVERY = timedelta(seconds=5)


def record_dispatch(now: datetime) -> None:
    task = PeriodicTask.objects.filter(name=DISPATCH_TASK)
    last = task.values_list("last_run_at", flat=True).first()
    if last is None or now - last >= HEARTBEAT_EVERY:
        task.update(last_run_at=now)


def last_dispatch() -> tuple[bool, datetime | None]:
    """(whether the dispatch task is installed and enabled, when it last ran)."""
    row = PeriodicTask.objects.filter(name=DISPATCH_TASK).values_list("enabled", "last_run_at").first()
    return (row[0], row[1]) if row else (False, None)
