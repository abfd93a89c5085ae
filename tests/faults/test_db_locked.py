"""Promise 6: the database locked during a result write or a dispatch.

Injected: another connection holds the write lock for 2.5 s (SQLite: BEGIN IMMEDIATE;
PostgreSQL: LOCK TABLE history_run IN ACCESS EXCLUSIVE MODE), with this process's lock wait
cut to 0.5 s so the write really fails and has to be retried (the engine's writer keeps the batch).
- The engine's result write fails, is written again from the engine's queue, the run ends
  `success`, and the target saw exactly one request (the HTTP call is never inside the retry).
- A dispatch that hits the lock fails as a whole: next_run_at does not advance and no run is
  inserted; the next tick creates the slot's run once and then advances next_run_at.
"""

import contextlib
import logging
import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from history.models import Run
from jobs.engine import dispatch as dispatcher
from jobs.engine import execute, results
from jobs.models import Job
from tests.factories import JobFactory, RunFactory
from tests.jobs.engine.dispatch_support import Published

HOLD_S = 2.5


def _short_lock_wait() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA busy_timeout = 500")
        else:
            cursor.execute("SET lock_timeout = '500ms'")


@contextlib.contextmanager
def locked_database(hold_s: float = HOLD_S):
    """Hold the write lock from another connection for hold_s, starting now; yields once it is held."""
    held = threading.Event()
    settings = connection.settings_dict

    def hold() -> None:
        if connection.vendor == "sqlite":
            other = sqlite3.connect(settings["NAME"], isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(hold_s)
            other.execute("ROLLBACK")
        else:
            import psycopg

            other = psycopg.connect(
                host=settings["HOST"] or "127.0.0.1",
                port=settings["PORT"] or 5432,
                user=settings["USER"],
                password=settings["PASSWORD"] or None,
                dbname=settings["NAME"],
            )
            with other.transaction():
                other.execute("LOCK TABLE history_run IN ACCESS EXCLUSIVE MODE")
                held.set()
                time.sleep(hold_s)
        other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10), "could not take the lock"
    try:
        yield
    finally:
        thread.join(hold_s + 10)


def test_result_write_is_retried_and_the_request_not_repeated(
    transactional_db, team, target, settings, monkeypatch, caplog
):
    settings.HOURGLASS_ALLOW_LOOPBACK = True
    job = JobFactory(team=team, url=target.url("/ok?locked"), schedule_kind="once", cron_expression="")
    run = RunFactory(job=job, status="pending", end_reason="", scheduled_for=timezone.now())
    real_write = results.write_batch
    started: list[float] = []

    def write_under_lock(*args, **kwargs):
        if started:
            return real_write(*args, **kwargs)
        _short_lock_wait()  # on the engine's writer connection
        with locked_database():
            started.append(time.monotonic())
            return real_write(*args, **kwargs)  # blocks, fails; the engine writes again later

    monkeypatch.setattr(results, "write_batch", write_under_lock)
    with caplog.at_level(logging.WARNING, logger="jobs.engine.engine"):
        execute.execute_runs([str(run.pk)])

    run.refresh_from_db()
    assert (run.status, run.end_reason) == ("ended", "success")
    assert len(target.received("/ok")) == 1
    assert any("run results failed; retrying" in record.getMessage() for record in caplog.records)


def test_a_locked_dispatch_never_advances_next_run_at_without_its_run(transactional_db, team):
    slot = timezone.now().replace(microsecond=0) - timedelta(seconds=1)
    job = JobFactory(team=team, schedule_kind="interval", cron_expression="", interval_seconds=60, run_at=slot)
    Job.objects.filter(pk=job.pk).update(next_run_at=slot)
    _short_lock_wait()
    with locked_database():
        with pytest.raises(OperationalError):
            dispatcher.dispatch(slot + timedelta(seconds=1), publisher=Published())
        job.refresh_from_db()
        assert job.next_run_at == slot
    # (Checked after the lock: PostgreSQL's ACCESS EXCLUSIVE lock blocks this read too.)
    assert not Run.objects.filter(job=job).exists()
    published = Published()
    dispatcher.dispatch(slot + timedelta(seconds=4), publisher=published)
    job.refresh_from_db()
    assert list(Run.objects.filter(job=job).values_list("scheduled_for", flat=True)) == [slot]
    assert job.next_run_at == slot + timedelta(seconds=60)
    assert len(published.run_ids) == 1
