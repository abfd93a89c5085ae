"""Promise 11: retention running while inserts arrive never deletes a job's newest N runs or
its running runs.

Injected: two writer threads (own connections) inserting ended and running runs for 3 s while
a third thread calls prune_all() in a loop.
"""

import threading
import time

from django.db import OperationalError, connections
from django.utils import timezone

from history.models import Run
from history.retention import prune_all
from tests.factories import JobFactory, RunFactory

KEEP = 5


def test_prune_while_inserting_keeps_newest_and_running(transactional_db, team):
    jobs = [JobFactory(team=team, keep_runs=KEEP) for _ in range(3)]
    running = [RunFactory(job=job, status="running", end_reason="", started_at=timezone.now()) for job in jobs]
    stop = threading.Event()
    errors: list[BaseException] = []
    pruned: list[int] = []
    inserted: dict[object, list[Run]] = {job.pk: [] for job in jobs}

    def guarded(body):
        def run():
            try:
                while not stop.is_set():
                    try:
                        body()
                    except OperationalError as exc:  # SQLite: database is locked; try again
                        if "locked" not in str(exc):
                            raise
                        time.sleep(0.01)
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        return run

    def insert():
        for job in jobs:
            inserted[job.pk].append(RunFactory(job=job))
        if len(running) < 30:
            running.append(RunFactory(job=jobs[0], status="running", end_reason="", started_at=timezone.now()))

    def prune():
        pruned.append(prune_all())

    threads = [threading.Thread(target=guarded(insert)) for _ in range(2)]
    threads.append(threading.Thread(target=guarded(prune)))
    for thread in threads:
        thread.start()
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    assert sum(pruned) > 0  # retention really ran against the inserts

    # Every running run survived.
    assert Run.objects.filter(pk__in=[run.pk for run in running], status="running").count() == len(running)
    prune_all()
    for job in jobs:
        newest = sorted(inserted[job.pk], key=lambda run: (run.created_at, run.pk))[-KEEP:]
        kept = set(Run.objects.filter(job=job, status="ended").values_list("pk", flat=True))
        assert kept == {run.pk for run in newest}
