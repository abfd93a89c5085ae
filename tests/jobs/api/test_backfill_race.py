"""Two backfills of the same range at the same instant, on PostgreSQL: each slot gets exactly one run, and between
them the two answers account for every slot once as created."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, connections

from history.models import Run
from jobs.backfill import job_backfill
from jobs.write import job_write

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_two_backfills_at_once_never_double_a_slot(team):
    job = job_write(
        team=team,
        fields={"natural_id": "hourly", "cron_expression": "0 * * * *"},
        steps=[{"name": "main", "config": {"url": "https://example.com/"}}],
    )
    start, end = datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC)
    barrier = threading.Barrier(2)
    created: list[int] = []

    def backfill() -> None:
        try:
            barrier.wait()
            created.append(len(job_backfill(job=job, start=start, end=end, rate_per_second=100).created))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=backfill) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    slots = Run.objects.filter(job=job).values_list("scheduled_for", flat=True)
    assert len(slots) == len(set(slots)) == 49
    assert sum(created) == 49
