"""The long-lived engine: runs staged ahead of their slot are sent on it, once, and what happens meanwhile.

Each test drives a real `Engine` (its loop thread, writer and reader threads) against the test
database and the local HTTP target, as a worker process's engine would be driven by its tasks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from history.models import Run
from history.services import run_cancel
from jobs.engine.engine import Engine
from tests.jobs.engine.execute_support import make_job, make_run, steps_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = Engine(engine_id="test-engine/1").start()
    yield engine
    engine.shutdown(5)


def _slot_in(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def test_a_staged_run_is_sent_on_its_slot_not_before_and_only_once(engine, team, target):
    slot = _slot_in(1.5)
    run = make_run(make_job(team, target.url("/ok")), scheduled_for=slot)

    done = engine.submit([str(run.pk)])
    engine.submit([str(run.pk)])  # a duplicate message (a republish, a second worker): nothing more

    run.refresh_from_db()
    assert (run.status, run.worker, run.started_at) == ("pending", "test-engine/1", None)  # claimed, not sent
    assert run.lease_expires_at > slot
    time.sleep(max(0.0, (slot - timezone.now()).total_seconds() - 0.3))
    assert target.received("/ok") == []  # nothing leaves before the slot

    done.result(10)
    [request] = target.received("/ok")
    assert slot.timestamp() <= request.at < slot.timestamp() + 0.5
    run.refresh_from_db()
    assert (run.status, run.end_reason, run.attempt) == ("ended", "success", 1)
    assert 0 <= run.lateness_ms < 500
    assert run.started_at >= slot
    time.sleep(0.3)
    assert len(target.received("/ok")) == 1


def test_a_run_cancelled_while_staged_is_never_sent(engine, team, target):
    run = make_run(make_job(team, target.url("/ok")), scheduled_for=_slot_in(1.5))
    done = engine.submit([str(run.pk)])
    run.refresh_from_db()

    run_cancel(run=run, by=None)  # a pending run ends `stopped` at once

    assert done.result(10) == 1
    time.sleep(0.2)
    assert target.received("/ok") == []
    run.refresh_from_db()
    assert (run.status, run.end_reason) == ("ended", "stopped")


def test_a_scheduled_run_whose_job_is_paused_while_staged_ends_stopped_unsent(engine, team, target):
    job = make_job(team, target.url("/ok"))
    run = make_run(job, scheduled_for=_slot_in(1.5), triggered_by="cron")
    done = engine.submit([str(run.pk)])

    job.enabled = False
    job.save()

    done.result(10)
    time.sleep(0.2)
    assert target.received("/ok") == []
    run.refresh_from_db()
    assert (run.status, run.end_reason, run.error) == ("ended", "stopped", "Stopped: the job was paused.")
    assert {step.status for step in steps_of(run).values()} == {"canceled"}


def test_a_job_edited_while_its_run_is_staged_sends_the_new_request(engine, team, target):
    job = make_job(team, target.url("/status/500"))
    run = make_run(job, scheduled_for=_slot_in(1.5))
    done = engine.submit([str(run.pk)])

    main = job.steps.get(name="main")
    main.config = {**main.config, "url": target.url("/ok")}
    main.save()
    job.save()  # every job write saves the job, which moves updated_at

    done.result(10)
    assert target.received("/status/") == []
    assert len(target.received("/ok")) == 1


def test_shutdown_hands_staged_runs_back_as_the_same_attempt(team, target, django_capture_on_commit_callbacks):
    engine = Engine(engine_id="test-engine/2").start()
    run = make_run(make_job(team, target.url("/ok")), scheduled_for=_slot_in(30))
    engine.submit([str(run.pk)])

    engine.shutdown(5)

    run.refresh_from_db()
    assert (run.status, run.worker, run.lease_expires_at, run.attempt) == ("pending", "", None, 1)
    assert run.published_at is not None  # published again for another engine
    assert target.received() == []
    assert not Run.objects.filter(retry_of=run).exists()


def test_shutdown_crashes_what_is_still_in_flight_after_the_grace(team, target):
    engine = Engine(engine_id="test-engine/3").start()
    job = make_job(team, target.url("/hang"), retry_limit=1, main_config={"timeout_ms": 60000})
    run = make_run(job)
    engine.submit([str(run.pk)], at_once=True)
    target.wait_for(1, "/hang")

    started = time.monotonic()
    engine.shutdown(0.5)

    assert time.monotonic() - started < 5  # bounded by the grace, not by the 60 s timeout
    run.refresh_from_db()
    assert (run.status, run.end_reason) == ("ended", "crashed")
    assert "shut down" in run.error
    retry = Run.objects.get(retry_of=run)
    assert (retry.attempt, retry.status) == (2, "pending")  # retried, with the same Idempotency-Key


def test_shutdown_waits_for_a_write_already_taken_by_the_writer(team, target):
    """The writer takes a batch, then waits for its thread (busy, as under load); a stop at that
    moment saw nothing left to write, stopped the loop, and the queued write was cancelled: the
    run had finished at the target but stayed `running` (the SIGTERM fault test, one run in two)."""
    engine = Engine(engine_id="test-engine/9").start()
    run = make_run(make_job(team, target.url("/delay/800")))
    engine.submit([str(run.pk)], at_once=True)
    target.wait_for(1, "/delay/")
    deadline = time.monotonic() + 5
    while not Run.objects.filter(pk=run.pk, status="running").exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # its `running` write is done; the next one is its end
    engine._writer_pool.submit(time.sleep, 2.5)  # the writer's thread busy when the result is queued
    time.sleep(1.2)  # the run has ended and the writer has taken its result

    engine.shutdown(5)

    run.refresh_from_db()
    assert (run.status, run.end_reason) == ("ended", "success")


def test_one_teams_hanging_runs_hold_only_that_teams_slots(team, other_team, target):
    engine = Engine(engine_id="test-engine/4", concurrency=10, per_team=5, per_host=5).start()
    try:
        hanging = [make_run(make_job(team, target.url("/hang"), main_config={"timeout_ms": 60000})) for _ in range(8)]
        engine.submit([str(run.pk) for run in hanging], at_once=True)
        target.wait_for(5, "/hang")

        other = make_run(make_job(other_team, target.url("/ok")))
        started = time.monotonic()
        engine.submit([str(other.pk)], at_once=True).result(10)

        assert time.monotonic() - started < 2
        assert len(target.received("/hang")) == 5  # the team's other three wait for its own slots
        other.refresh_from_db()
        assert other.end_reason == "success"
    finally:
        engine.shutdown(0)


def test_a_run_whose_claim_lapses_while_it_waits_for_a_slot_is_handed_back_not_sent(team, target, settings):
    """Limits admit a run only when a slot frees; by then its claim may have lapsed and the reaper
    may have given the run to another engine. Sending it then would deliver it twice."""
    settings.HOURGLASS_LEASE_GRACE_SECONDS = 2  # claim = due + 2 s; handed back within 1 s of its end
    engine = Engine(engine_id="test-engine/5", concurrency=10, per_team=10, per_host=1).start()
    try:
        hanging = make_run(make_job(team, target.url("/hang"), main_config={"timeout_ms": 3000}))
        engine.submit([str(hanging.pk)], at_once=True)
        target.wait_for(1, "/hang")  # the origin's one slot is taken for 3 s
        waiting = make_run(make_job(team, target.url("/ok")))

        done = engine.submit([str(waiting.pk)], at_once=True)  # admitted only once /hang times out

        assert done.result(10) == 1
        time.sleep(0.3)
        assert target.received("/ok") == []
        waiting.refresh_from_db()
        assert (waiting.status, waiting.worker, waiting.lease_expires_at) == ("pending", "", None)
        assert waiting.published_at is not None  # published again for an engine that can send it in time
    finally:
        engine.shutdown(0)


def test_runs_handed_back_together_take_one_write(team, target, settings, monkeypatch):
    """After an outage a backlog of late runs is handed back at once. One transaction and one
    publish per run, queued on the writer's thread, held up the writes of the runs that did go out
    (the chaos soak: 47 s), until their claims lapsed and another engine sent them a second time."""
    from jobs.engine import preflight

    calls: list[int] = []
    real_hand_back = preflight.hand_back

    def counting_hand_back(run_ids: list[str], engine_id: str) -> int:
        returned = real_hand_back(run_ids, engine_id)
        calls.append(len(run_ids))  # once written: the test reads the rows then (SQLite locks the table meanwhile)
        return returned

    monkeypatch.setattr(preflight, "hand_back", counting_hand_back)
    settings.HOURGLASS_LEASE_GRACE_SECONDS = 2  # claim = now + 2 s; the origin's one slot is held 3 s
    engine = Engine(engine_id="test-engine/8", concurrency=50, per_team=50, per_host=1).start()
    try:
        hanging = make_run(make_job(team, target.url("/hang"), main_config={"timeout_ms": 3000}))
        engine.submit([str(hanging.pk)], at_once=True)
        target.wait_for(1, "/hang")
        waiting = [make_run(make_job(team, target.url("/ok"))) for _ in range(30)]

        assert engine.submit([str(run.pk) for run in waiting], at_once=True).result(10) == 30

        deadline = time.monotonic() + 5
        while sum(calls) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(calls) == 30
        assert len(calls) <= 2, calls  # together, not one write each
        assert target.received("/ok") == []
        states = set(Run.objects.filter(pk__in=[run.pk for run in waiting]).values_list("status", "worker"))
        assert states == {("pending", "")}
    finally:
        engine.shutdown(0)


def test_a_lapsed_claim_is_not_taken_over_until_the_reaper_releases_it(engine, team, target, settings):
    """Another engine's claim has lapsed, but that engine may have sent the run and still be writing
    so: a message for the run (a republish, a redelivery) claims nothing; once the reaper has
    released the claim (and recorded it on the run) the run is sent, once."""
    from jobs.engine.reaper import release_lapsed_claims

    settings.HOURGLASS_LEASE_GRACE_SECONDS = 2
    run = make_run(make_job(team, target.url("/ok")))
    Run.objects.filter(pk=run.pk).update(worker="vm/other", lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert engine.submit([str(run.pk)], at_once=True).result(10) == 0
    time.sleep(0.3)
    assert target.received("/ok") == []
    run.refresh_from_db()
    assert run.worker == "vm/other"

    release_lapsed_claims(timezone.now() + timedelta(seconds=2), publisher=lambda ids: None)
    assert engine.submit([str(run.pk)], at_once=True).result(10) == 1
    assert len(target.received("/ok")) == 1
    run.refresh_from_db()
    assert (run.end_reason, run.data["lapsed_claims"][0]["worker"]) == ("success", "vm/other")
