from datetime import timedelta

import pytest

from history.models import Run, RunStep
from jobs.engine.reaper import reap
from tests.factories import RunFactory
from tests.jobs.engine.dispatch_support import T0, at, interval_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def sweep(django_capture_on_commit_callbacks, published):
    def run(now):
        with django_capture_on_commit_callbacks(execute=True):
            return reap(now, publisher=published)

    return run


def running_run(job, *, lease_expires_at, attempt=1):
    run = RunFactory(
        job=job,
        scheduled_for=T0,
        attempt=attempt,
        status="running",
        end_reason="",
        started_at=at(0.1),
        lease_expires_at=lease_expires_at,
    )
    RunStep.objects.create(run=run, name="main", position=0, status="running")
    RunStep.objects.create(run=run, name="notify", position=1, status="waiting")
    return run


def test_it_ends_a_run_whose_lease_expired_as_crashed_and_retries_it(team, sweep):
    job = interval_job(team, 3600, retry_limit=2, backoff_strategy="constant", backoff_base_seconds=7)
    run = running_run(job, lease_expires_at=at(40))

    assert sweep(at(41)) == {"crashed": 1, "retried": 1, "released": 0, "republished": 0}

    run.refresh_from_db()
    assert (run.status, run.end_reason, run.finished_at, run.lease_expires_at) == ("ended", "crashed", at(41), None)
    assert run.duration_ms == 40900
    assert "Crashed" in run.error
    assert dict(run.steps.values_list("name", "status")) == {"main": "error", "notify": "canceled"}
    retry = Run.objects.get(retry_of=run)
    assert (retry.attempt, retry.scheduled_for, retry.status, retry.not_before) == (2, T0, "pending", at(48))
    assert retry.published_at is None  # the dispatcher publishes it when not_before comes

    assert sweep(at(42)) == {"crashed": 0, "retried": 0, "released": 0, "republished": 0}


def test_it_does_not_retry_a_crash_past_the_retry_limit(team, sweep):
    job = interval_job(team, 3600, retry_limit=1)
    run = running_run(job, lease_expires_at=at(40), attempt=2)
    assert sweep(at(41)) == {"crashed": 1, "retried": 0, "released": 0, "republished": 0}
    assert not Run.objects.filter(retry_of=run).exists()


def test_it_leaves_a_run_whose_lease_holds(team, sweep):
    run = running_run(interval_job(team, 3600), lease_expires_at=at(40))
    assert sweep(at(39))["crashed"] == 0
    run.refresh_from_db()
    assert run.status == "running"


def test_it_publishes_again_a_pending_run_nobody_claimed(team, sweep, published):
    job = interval_job(team, 3600, next_run_at=at(3600))
    lost = RunFactory(job=job, scheduled_for=T0, status="pending", end_reason="", published_at=at(-1))
    fresh = RunFactory(job=job, scheduled_for=at(25), status="pending", end_reason="", published_at=at(24))

    assert sweep(at(40))["republished"] == 1

    assert published.batches == [[str(lost.pk)]]
    lost.refresh_from_db()
    assert lost.published_at == at(40)
    assert sweep(at(41))["republished"] == 0  # not again until the delay has passed once more
    fresh.refresh_from_db()
    assert fresh.published_at == at(24)


def test_the_republish_delay_is_a_setting(team, sweep, settings):
    settings.HOURGLASS_REPUBLISH_AFTER_SECONDS = 5
    job = interval_job(team, 3600, next_run_at=at(3600))
    RunFactory(job=job, scheduled_for=T0, status="pending", end_reason="", published_at=T0)
    assert sweep(at(4))["republished"] == 0
    assert sweep(at(6))["republished"] == 1


def test_it_leaves_unpublished_retries_to_the_dispatcher(team, sweep, published):
    job = interval_job(team, 3600, next_run_at=at(3600))
    first = RunFactory(job=job, scheduled_for=T0, status="ended", end_reason="failed")
    RunFactory(job=job, scheduled_for=T0, attempt=2, retry_of=first, status="pending", end_reason="", not_before=at(1))
    waiting = RunFactory(
        job=job, scheduled_for=T0, attempt=3, status="pending", end_reason="", not_before=at(3000), published_at=at(1)
    )
    sweep(at(300))
    assert published.batches == []
    waiting.refresh_from_db()
    assert waiting.published_at == at(1)


def test_it_republishes_many_in_batches(team, sweep, published):
    jobs = [interval_job(team, 3600, next_run_at=at(3600)) for _ in range(3)]
    for job in jobs:
        for k in range(70):
            RunFactory(
                job=job, scheduled_for=T0 - timedelta(hours=k), status="pending", end_reason="", published_at=at(-1)
            )
    assert sweep(at(100))["republished"] == 210
    assert sorted(len(ids) for ids in published.batches) == [10, 100, 100]


def test_a_released_claim_is_recorded_on_the_run(team, sweep, published):
    """An engine cut off from the database after sending may have delivered the run: the run says
    whose claim lapsed, so a second delivery of the same attempt has its reason on record."""
    job = interval_job(team, 3600)
    run = RunFactory(
        job=job, scheduled_for=T0, status="pending", end_reason="", worker="host-a/41", lease_expires_at=at(10)
    )

    assert sweep(at(21))["released"] == 1

    run.refresh_from_db()
    assert (run.status, run.worker, run.lease_expires_at, run.attempt) == ("pending", "", None, 1)
    assert run.data == {"lapsed_claims": [{"worker": "host-a/41", "lease_expired_at": at(10).isoformat()}]}
    assert published.run_ids == [str(run.pk)]
    Run.objects.filter(pk=run.pk).update(worker="host-b/7", lease_expires_at=at(30))
    sweep(at(41))
    run.refresh_from_db()
    assert [claim["worker"] for claim in run.data["lapsed_claims"]] == ["host-a/41", "host-b/7"]


def test_a_lapsed_claim_is_released_only_after_the_release_delay(team, sweep, published, settings):
    """The engine stops sending 2 s before its claim ends; a run it sent just before must still be
    written `running`. Released at once, another engine sent it again while that write waited."""
    settings.HOURGLASS_LEASE_GRACE_SECONDS = 30
    job = interval_job(team, 3600)
    run = RunFactory(
        job=job, scheduled_for=T0, status="pending", end_reason="", worker="host-a/41", lease_expires_at=at(10)
    )

    assert sweep(at(19))["released"] == 0  # lapsed 9 s ago: its engine may still be writing it
    run.refresh_from_db()
    assert (run.worker, run.lease_expires_at) == ("host-a/41", at(10))
    assert published.run_ids == []

    assert sweep(at(20.5))["released"] == 1
    settings.HOURGLASS_LEASE_GRACE_SECONDS = 2  # a short grace waits no longer than itself
    Run.objects.filter(pk=run.pk).update(worker="host-b/7", lease_expires_at=at(30))
    assert sweep(at(32.5))["released"] == 1
