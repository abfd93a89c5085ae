import pytest

from history.models import Run
from history.services import run_trigger
from jobs.engine import publish
from tests.factories import JobFactory, RunFactory
from tests.jobs.engine.dispatch_support import T0, at, interval_job

pytestmark = pytest.mark.django_db


def retry_of(run: Run, not_before) -> Run:
    return RunFactory(
        job=run.job,
        scheduled_for=run.scheduled_for,
        attempt=run.attempt + 1,
        retry_of=run,
        status="pending",
        end_reason="",
        not_before=not_before,
    )


def test_it_publishes_a_retry_once_its_not_before_is_within_the_lookahead(team, tick, published):
    job = interval_job(team, 3600, next_run_at=at(3600))
    first = RunFactory(job=job, scheduled_for=T0, status="ended", end_reason="failed")
    retry = retry_of(first, not_before=at(10.25))

    assert tick(at(9)) == 0
    assert published.batches == []

    assert tick(at(9.5)) == 0  # creates no run, publishes the retry
    # Published ahead of its not_before: the engine that stages it waits until then.
    assert published.batches == [[str(retry.pk)]]
    retry.refresh_from_db()
    assert retry.published_at == at(9.5)

    tick(at(10.5))
    assert len(published.batches) == 1  # published once


def test_it_publishes_an_overdue_retry_at_once(team, tick, published):
    job = interval_job(team, 3600, next_run_at=at(3600))
    retry = retry_of(RunFactory(job=job, scheduled_for=T0, status="ended", end_reason="timeout"), at(5))
    tick(at(600))
    assert published.batches == [[str(retry.pk)]]


def test_it_leaves_runs_that_are_not_waiting_retries(team, tick, published):
    job = interval_job(team, 3600, next_run_at=at(3600))
    RunFactory(job=job, scheduled_for=at(-5), status="pending", end_reason="", published_at=at(-5))
    RunFactory(job=job, scheduled_for=at(-9), status="running", end_reason="", not_before=at(-9))
    tick(at(1))
    assert published.batches == []


@pytest.mark.django_db(transaction=True)
def test_a_broker_failure_on_publish_is_logged_and_the_run_kept(team, caplog, monkeypatch):
    def broken_broker(run_ids: list[str]) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(publish, "celery_publisher", broken_broker)
    run = run_trigger(job=JobFactory(team=team), by=None)

    assert run.status == "pending"  # kept: the reaper publishes it again
    assert "broker down" in caplog.text
