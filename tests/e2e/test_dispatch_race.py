"""Several dispatchers at once on a real database: no slot ever gets two runs or two messages."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.utils import timezone

from history.models import Run
from jobs.engine import dispatch as dispatcher
from tests.factories import JobFactory
from tests.jobs.engine.dispatch_support import Published

JOBS = 300
DISPATCHERS = 4


def race(now) -> tuple[list[int], Published]:
    """DISPATCHERS threads, each with its own connection, dispatching the same instant 3 times."""
    published = Published()
    created: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(DISPATCHERS)

    def run() -> None:
        try:
            start.wait(10)
            for _ in range(3):
                created.append(dispatcher.dispatch(now, publisher=published, chunk_size=25))
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(DISPATCHERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    return created, published


def assert_one_run_and_one_message_per_slot(created: list[int], published: Published) -> None:
    slots = Counter(Run.objects.values_list("job_id", "scheduled_for", "attempt"))
    assert len(slots) == JOBS
    assert max(slots.values()) == 1
    assert sum(created) == JOBS
    assert sorted(published.run_ids) == sorted(str(pk) for pk in Run.objects.values_list("pk", flat=True))


@pytest.fixture
def due_jobs(transactional_db, team) -> None:
    # Hourly slots from a whole second just past: one due slot each, the next an hour away.
    slot = timezone.now().replace(microsecond=0)
    for _ in range(JOBS):
        JobFactory(team=team, schedule_kind="interval", interval_seconds=3600, run_at=slot, next_run_at=slot)


@pytest.mark.postgres
def test_racing_dispatchers_on_postgresql_create_no_duplicate_slot(due_jobs):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    assert_one_run_and_one_message_per_slot(*race(timezone.now()))


@pytest.mark.postgres
def test_without_the_row_lock_the_unique_constraint_still_holds(due_jobs, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    monkeypatch.setattr(dispatcher, "lock_skip_locked", lambda queryset: queryset)
    assert_one_run_and_one_message_per_slot(*race(timezone.now()))


def test_racing_dispatchers_on_sqlite_take_turns(due_jobs):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant")
    assert_one_run_and_one_message_per_slot(*race(timezone.now()))
