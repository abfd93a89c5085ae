from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.errors import Conflict
from history.models import Run, RunStep
from history.services import run_cancel, run_rerun, run_trigger
from tests.factories import JobFactory, RunFactory
from tests.jobs.engine.dispatch_support import Published

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch) -> Published:
    recorder = Published()
    monkeypatch.setattr("jobs.engine.publish.celery_publisher", recorder)
    return recorder


def test_trigger_starts_a_run_now_and_publishes_it_on_commit(
    team, operator, published, django_capture_on_commit_callbacks
):
    job = JobFactory(team=team, retry_limit=3)
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = run_trigger(job=job, by=operator, triggered_by="dashboard", variables={"region": "eu"})
    assert published.batches == []  # nothing leaves before the row is committed
    for callback in callbacks:
        callback()

    run.refresh_from_db()
    assert (run.status, run.attempt, run.triggered_by, run.triggered_by_user) == ("pending", 1, "dashboard", operator)
    assert (run.backoff_limit, run.variables, run.team_id) == (3, {"region": "eu"}, team.pk)
    assert before <= run.scheduled_for <= timezone.now()
    assert run.published_at is not None
    assert published.batches == [[str(run.pk)]]


def test_trigger_ignores_the_overlap_policy(team, operator, published):
    job = JobFactory(team=team, overlap_policy="forbid")
    RunFactory(job=job, status="running", end_reason="")
    assert run_trigger(job=job, by=operator).status == "pending"


def test_trigger_never_takes_a_cron_slot(team, published, time_machine):
    job = JobFactory(team=team)
    slot = timezone.now().replace(microsecond=0) + timedelta(seconds=5)
    time_machine.move_to(slot, tick=False)
    RunFactory(job=job, scheduled_for=slot, status="pending", end_reason="")
    run = run_trigger(job=job, by=None)
    assert run.scheduled_for != slot
    assert Run.objects.filter(job=job).count() == 2


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"triggered_by": "cron"}, "triggered_by"),
        ({"variables": ["x"]}, "variables"),
        ({"variables": {"": 1}}, "variables"),
    ],
)
def test_trigger_refuses_bad_input(team, published, options, field):
    with pytest.raises(ValidationError) as raised:
        run_trigger(job=JobFactory(team=team), by=None, **options)
    assert field in raised.value.message_dict
    assert not Run.objects.exists()


def test_cancel_ends_a_pending_run_at_once(team, owner):
    run = RunFactory(job=JobFactory(team=team), status="pending", end_reason="")
    RunStep.objects.create(run=run, name="main", status="waiting")
    RunStep.objects.create(run=run, name="done", status="done", position=1)

    run = run_cancel(run=run, by=owner)

    assert (run.status, run.end_reason, run.error) == ("ended", "stopped", "Stopped by alice.")
    assert run.finished_at is not None
    assert dict(run.steps.values_list("name", "status")) == {"main": "canceled", "done": "done"}


def test_cancel_asks_a_running_run_to_stop(team, owner):
    run = RunFactory(job=JobFactory(team=team), status="running", end_reason="")
    run = run_cancel(run=run, by=owner)
    assert run.status == "running"  # the executor interrupts the request and ends it
    requested = run.cancel_requested_at
    assert requested is not None
    assert run_cancel(run=run, by=owner).cancel_requested_at == requested  # asking twice is harmless


def test_cancel_refuses_an_ended_run(team, owner):
    run = RunFactory(job=JobFactory(team=team), status="ended", end_reason="success")
    with pytest.raises(Conflict, match="The run has already ended."):
        run_cancel(run=run, by=owner)
    run.refresh_from_db()
    assert run.end_reason == "success"


def test_rerun_starts_a_new_run_with_the_same_variables(team, editor, published, django_capture_on_commit_callbacks):
    job = JobFactory(team=team)
    original = RunFactory(job=job, status="ended", end_reason="failed", attempt=3, variables={"day": "monday"})

    with django_capture_on_commit_callbacks(execute=True):
        rerun = run_rerun(run=original, by=editor)

    assert rerun.pk != original.pk
    assert (rerun.job, rerun.attempt, rerun.status, rerun.variables) == (job, 1, "pending", {"day": "monday"})
    assert (rerun.triggered_by, rerun.triggered_by_user, rerun.retry_of) == ("api", editor, None)
    assert rerun.data == {"rerun_of": str(original.pk)}
    assert published.run_ids == [str(rerun.pk)]
