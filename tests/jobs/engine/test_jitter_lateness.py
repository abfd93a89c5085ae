"""A jittered run is sent at its planned time, and its lateness counts from that time, not from its slot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.engine import Engine
from tests.jobs.engine.execute_support import make_job, make_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_jittered_run_is_sent_at_its_planned_time_and_is_not_late(team, target):
    slot = timezone.now() - timedelta(seconds=5)
    planned = timezone.now() + timedelta(seconds=1.5)
    job = make_job(team, target.url("/ok"))
    run = make_run(job, scheduled_for=slot, not_before=planned, data={"planned_offset_seconds": 6})
    engine = Engine(engine_id="test-engine/1").start()
    try:
        engine.submit([str(run.pk)]).result(10)
    finally:
        engine.shutdown(5)
    [request] = target.received("/ok")
    assert planned.timestamp() <= request.at < planned.timestamp() + 0.5
    run.refresh_from_db()
    assert (run.status, run.end_reason, run.scheduled_for) == ("ended", "success", slot)
    assert 0 <= run.lateness_ms < 500
