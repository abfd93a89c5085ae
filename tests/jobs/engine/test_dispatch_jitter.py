"""jitterSeconds: each slot's run waits for its planned time (slot + an offset fixed by the job and the slot),
published then by the dispatcher; it keeps its nominal slot, so the unique slot constraint and history read as
before, and the engine counts lateness from the planned time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from history.models import Run
from jobs.engine.dispatch import dispatch
from jobs.schedules import jitter_offset, spread_seed
from tests.jobs.engine.dispatch_support import T0, at, interval_job

pytestmark = pytest.mark.django_db


def test_it_plans_a_slot_at_its_offset_and_publishes_it_when_due(team, published, tick):
    job = interval_job(team, 3600, jitter_seconds=600)
    offset = jitter_offset(spread_seed(team.pk, job.natural_id), T0, 600)
    assert 0 < offset <= 600

    assert tick(at(-0.5)) == 1
    run = Run.objects.get(job=job)
    assert (run.scheduled_for, run.not_before, run.published_at) == (T0, at(offset), None)
    assert run.data == {"planned_offset_seconds": offset}
    assert published.batches == []

    tick(at(offset - 2))
    assert published.batches == []
    tick(at(offset - 0.5))
    assert published.run_ids == [str(run.pk)]
    run.refresh_from_db()
    assert run.published_at == at(offset - 0.5)


def test_the_offset_is_the_same_after_a_restart_and_differs_between_slots(team):
    seed = spread_seed(team.pk, "nightly")
    first = [jitter_offset(seed, T0 + timedelta(hours=n), 900) for n in range(50)]
    again = [jitter_offset(seed, T0 + timedelta(hours=n), 900) for n in range(50)]
    assert first == again
    assert len(set(first)) > 25
    assert all(0 <= offset <= 900 for offset in first)


def test_a_slot_is_not_doubled_when_it_comes_round_again(team, published, tick):
    job = interval_job(team, 3600, jitter_seconds=600)
    assert tick(at(-0.5)) == 1
    job.refresh_from_db()
    job.next_run_at = T0  # a stale write-back
    job.save(update_fields=["next_run_at"])
    assert dispatch(at(-0.5), publisher=published) == 0
    assert Run.objects.filter(job=job).count() == 1


def test_no_jitter_publishes_at_once(team, published, tick):
    job = interval_job(team, 60)
    tick(at(-0.5))
    run = Run.objects.get(job=job)
    assert (run.not_before, run.published_at, run.data) == (None, at(-0.5), {})
    assert published.run_ids == [str(run.pk)]
