"""Publishing runs to the workers: one Celery message per batch of run ids, sent on commit.

The run row is the truth and the message only a wake-up call: a message lost by the broker
costs a little delay (the reaper publishes again), and a duplicate costs nothing (the executor
claims each run with a conditional UPDATE).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from django.db import transaction

from history.models import Run

BATCH_SIZE = 100

# publisher(run_ids, eta): sends one batch; eta None means "now".
Publisher = Callable[[list[str], datetime | None], None]


def celery_publisher(run_ids: list[str], eta: datetime | None) -> None:
    # Imported here because jobs.tasks imports the engine modules that import this one.
    from jobs.tasks import execute_runs

    execute_runs.apply_async(args=[run_ids], eta=eta)


def _eta_second(eta: datetime | None, now: datetime) -> datetime | None:
    """Round up to the whole second, so a batch never starts before any of its runs may."""
    if eta is None or eta <= now:
        return None
    whole = eta.astimezone(UTC).replace(microsecond=0)
    return whole if whole == eta else whole + timedelta(seconds=1)


def _sender(send: Publisher, batch: list[str], eta: datetime | None) -> Callable[[], None]:
    # A named function, not functools.partial: Django's robust on_commit logs the failing
    # hook's __qualname__, which a partial lacks, turning a broker error into a 500.
    def publish_batch() -> None:
        send(batch, eta)

    return publish_batch


def publish_runs(
    runs: Iterable[tuple[UUID | str, datetime | None]],
    *,
    now: datetime,
    publisher: Publisher | None = None,
    mark_published: bool = True,
) -> int:
    """Publish (run id, eta) pairs in batches of at most BATCH_SIZE sharing one eta second.

    The messages go out when the surrounding transaction commits (at once outside one), so
    a worker never sees an id whose row it cannot read yet. Returns the number of runs.
    """
    by_eta: dict[datetime | None, list[str]] = defaultdict(list)
    for run_id, eta in runs:
        by_eta[_eta_second(eta, now)].append(str(run_id))
    send = publisher or celery_publisher
    count = 0
    for eta, ids in by_eta.items():
        for start in range(0, len(ids), BATCH_SIZE):
            batch = ids[start : start + BATCH_SIZE]
            if mark_published:
                Run.objects.filter(pk__in=batch).update(published_at=now)
            # robust: a broker error must not stop the other batches; the reaper republishes.
            transaction.on_commit(_sender(send, batch, eta), robust=True)
            count += len(batch)
    return count
