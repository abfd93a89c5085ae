"""The run page's request card says what the target received: shown once sent, live while the run is out."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from history.models import Run
from tests.factories import RunFactory

SENT = {"method": "POST", "url": "http://127.0.0.1:9/hook", "headers": {"X-Api-Token": "[redacted]"}}


def _detail(client, run: Run) -> str:
    return client.get(reverse("history:run-detail", kwargs={"run_id": run.pk})).content.decode()


def _live(client, run: Run) -> str:
    return client.get(reverse("history:run-live", kwargs={"run_id": run.pk})).content.decode()


def test_it_shows_a_running_runs_request_on_the_page_and_in_its_live_part(as_user, viewer, job):
    run = RunFactory(job=job, status=Run.Status.RUNNING, end_reason="", started_at=timezone.now(), request=SENT)
    client = as_user(viewer)
    for body in (_detail(client, run), _live(client, run)):
        assert "<code>POST http://127.0.0.1:9/hook</code>" in body
        assert "Not sent yet" not in body


def test_it_says_a_started_run_has_sent_its_request_before_it_is_recorded(as_user, viewer, job):
    run = RunFactory(job=job, status=Run.Status.RUNNING, end_reason="", started_at=timezone.now(), request={})
    body = _detail(as_user(viewer), run)
    assert "Sent; the request is recorded when the run ends." in body
    assert "Not sent yet" not in body


def test_it_says_a_pending_run_has_not_sent_its_request(as_user, viewer, job):
    run = RunFactory(job=job, status=Run.Status.PENDING, end_reason="")
    assert "Not sent yet." in _detail(as_user(viewer), run)


def test_it_does_not_claim_nothing_went_out_for_a_run_stopped_as_a_worker_started_it(as_user, viewer, job):
    run = RunFactory(job=job, end_reason="stopped", worker="engine-1", error="Stopped by bob.")
    body = _detail(as_user(viewer), run)
    assert "the target may have received it" in body
    assert "No request was sent." not in body


def test_it_says_no_request_went_out_for_a_skipped_run(as_user, viewer, job):
    run = RunFactory(job=job, end_reason="skipped")
    assert "No request was sent." in _detail(as_user(viewer), run)
