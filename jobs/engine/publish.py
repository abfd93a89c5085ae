"""Publishing runs to the workers: one Celery message per batch of run ids, sent on commit.

A message goes out as soon as its runs exist, up to the dispatcher's look-ahead before their
slot: the worker's engine stages them on arrival and sends each on its slot itself (there is no
Celery ETA). The message holds run ids only; everything else, secrets included, stays in the
database.

The run row is the truth and the message only a wake-up call: a message lost by the broker
costs a little delay (the reaper publishes again), and a duplicate costs nothing (the engine
claims each run with a conditional UPDATE).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from uuid import UUID

from celery import current_app
from django.db import transaction

from history.models import Run

BATCH_SIZE = 100
EXECUTE_TASK = "hourglass.execute_runs"  # jobs.tasks; sent by name, so the engine imports no task module

# publisher(run_ids): sends one batch.
Publisher = Callable[[list[str]], None]


def celery_publisher(run_ids: list[str]) -> None:
    current_app.send_task(EXECUTE_TASK, args=[run_ids])


def _sender(send: Publisher, batch: list[str]) -> Callable[[], None]:
    # A named function, not functools.partial: Django's robust on_commit logs the failing
    # hook's __qualname__, which a partial lacks, turning a broker error into a 500.
    def publish_batch() -> None:
        send(batch)

    return publish_batch


def publish_runs(
    run_ids: Iterable[UUID | str],
    *,
    now: datetime,
    publisher: Publisher | None = None,
    mark_published: bool = True,
) -> int:
    """Publish run ids (in slot order) in batches of at most BATCH_SIZE.

    The messages go out when the surrounding transaction commits (at once outside one), so
    a worker never sees an id whose row it cannot read yet. Returns the number of runs.
    """
    ids = [str(run_id) for run_id in run_ids]
    send = publisher or celery_publisher
    for start in range(0, len(ids), BATCH_SIZE):
        batch = ids[start : start + BATCH_SIZE]
        if mark_published:
            Run.objects.filter(pk__in=batch).update(published_at=now)
        # robust: a broker error must not stop the other batches; the reaper republishes.
        transaction.on_commit(_sender(send, batch), robust=True)
    return len(ids)
