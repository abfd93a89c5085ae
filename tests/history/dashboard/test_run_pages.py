"""The run page and its live parts, the polled table row, and the new-rows poller."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from history.models import Run
from tests.dashboard_support import add_step, make_runs
from tests.factories import RunFactory


def _detail(run: Run) -> str:
    return reverse("history:run-detail", kwargs={"run_id": run.pk})


def test_it_shows_everything_about_a_run(as_user, viewer, job):
    job.secret_headers = ["X-Api-Token"]
    job.save()
    run = RunFactory(
        job=job,
        end_reason="failed",
        http_status=502,
        duration_ms=1500,
        lateness_ms=42,
        error="HTTP 502",
        response_body="<script>alert('x')</script>",
        variables={"region": "eu"},
        # Stored before the header was named secret: the page still hides it.
        request={"method": "POST", "url": "https://example.com/hook", "headers": {"X-Api-Token": "s3cr3t"}},
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    add_step(run, "main", "error", http_status=502, message="POST https://example.com/hook returned 502")
    body = as_user(viewer).get(_detail(run)).content.decode()
    assert 'class="badge failed"' in body
    assert "1.5 s" in body
    assert "42 ms" in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert "<script>alert" not in body
    assert "s3cr3t" not in body
    assert "[redacted]" in body
    assert "&quot;region&quot;: &quot;eu&quot;" in body
    assert "returned 502" in body
    for name in ("Scheduled for", "Started", "Finished"):
        assert name in body


def test_it_links_the_attempt_chain(as_user, viewer, job):
    first = RunFactory(job=job, end_reason="failed")
    second = RunFactory(job=job, end_reason="failed", attempt=2, retry_of=first, scheduled_for=first.scheduled_for)
    third = RunFactory(job=job, attempt=3, retry_of=second, scheduled_for=first.scheduled_for)
    body = as_user(viewer).get(_detail(second)).content.decode()
    assert _detail(first) in body
    assert _detail(third) in body
    assert '<span aria-current="page">#2' in body


def test_it_polls_the_live_part_only_while_the_run_is_active(as_user, viewer, running_run, ended_run):
    client = as_user(viewer)
    live = client.get(reverse("history:run-live", kwargs={"run_id": running_run.pk})).content.decode()
    assert 'hx-trigger="every 2s"' in live
    assert '<progress value="1" max="2"' in live
    assert "1/2 steps" in live
    ended = client.get(reverse("history:run-live", kwargs={"run_id": ended_run.pk})).content.decode()
    assert "hx-trigger" not in ended


def test_it_stops_polling_a_row_once_its_run_ends(as_user, viewer, running_run):
    client = as_user(viewer)
    url = reverse("history:run-row", kwargs={"run_id": running_run.pk})
    assert 'hx-trigger="every 2s"' in client.get(url).content.decode()
    Run.objects.filter(pk=running_run.pk).update(status="ended", end_reason="success")
    row = client.get(url).content.decode()
    assert "hx-trigger" not in row
    assert 'class="badge success"' in row


def test_it_sends_new_runs_matching_the_filters_with_a_fresh_poller(as_user, viewer, job):
    since = timezone.now() - timedelta(minutes=1)
    (old,) = make_runs(job, 1, start=since - timedelta(seconds=5))
    new_ok, new_failed = make_runs(job, 2, start=since + timedelta(seconds=1))
    Run.objects.filter(pk=new_failed.pk).update(end_reason="failed")
    url = reverse("history:job-runs-new", kwargs={"job_id": job.pk})
    client = as_user(viewer)
    body = client.get(url, {"since": since.isoformat()}).content.decode()
    assert re.findall(r'<tr id="run-([0-9a-f-]{36})"', body) == [str(new_failed.pk), str(new_ok.pk)]
    assert str(old.pk) not in body
    assert 'id="runs-poller"' in body
    assert 'hx-swap-oob="delete"' in body  # drops the "No runs yet" row
    filtered = client.get(url, {"since": since.isoformat(), "end_reason": "failed"}).content.decode()
    assert re.findall(r'<tr id="run-([0-9a-f-]{36})"', filtered) == [str(new_failed.pk)]
    newest = new_failed.created_at.isoformat()
    assert re.findall(r'<tr id="run-', client.get(url, {"since": newest}).content.decode()) == []


def test_it_rejects_a_poll_without_a_valid_since(as_user, viewer, job):
    url = reverse("history:job-runs-new", kwargs={"job_id": job.pk})
    assert as_user(viewer).get(url, {"since": "yesterday"}).status_code == 400


@pytest.mark.parametrize("steps", [1, 12])
def test_it_needs_the_same_queries_for_few_or_many_steps(as_user, viewer, job, steps, django_assert_max_num_queries):
    run = RunFactory(job=job)
    for index in range(steps):
        add_step(run, f"step-{index}", position=index)
    client = as_user(viewer)
    # session, user, memberships, run (+ steps), job, teams, attempts, its job-chain links
    with django_assert_max_num_queries(9):
        response = client.get(_detail(run))
    assert response.content.decode().count('<span class="dot"') == steps


def test_it_stops_polling_a_row_whose_run_was_deleted(as_user, viewer, outsider, running_run):
    url = reverse("history:run-row", kwargs={"run_id": running_run.pk})
    client = as_user(viewer)
    running_run.delete()
    gone = client.get(url, headers={"HX-Request": "true"})
    assert gone.status_code == 286  # htmx: stop polling, swap in nothing
    assert gone.content == b""
    assert client.get(url).status_code == 404  # a plain request still gets the 404 page


def test_it_answers_an_outsiders_poll_like_a_deleted_run(as_user, outsider, running_run):
    url = reverse("history:run-live", kwargs={"run_id": running_run.pk})
    response = as_user(outsider).get(url, headers={"HX-Request": "true"})
    assert response.status_code == 286
    assert response.content == b""


def test_it_sends_a_poll_after_logout_to_the_login_page(client, running_run):
    url = reverse("history:run-row", kwargs={"run_id": running_run.pk})
    page = f"http://testserver/jobs/{running_run.job_id}/?status=running"
    response = client.get(url, headers={"HX-Request": "true", "HX-Current-URL": page})
    assert response.status_code == 401
    assert response["HX-Redirect"] == f"/accounts/login/?next=%2Fjobs%2F{running_run.job_id}%2F%3Fstatus%3Drunning"


def test_it_swaps_cancel_for_delete_when_the_run_ends(as_user, editor, running_run):
    url = reverse("history:run-live", kwargs={"run_id": running_run.pk})
    client = as_user(editor)
    live = client.get(url).content.decode()
    assert "Cancel run" in live
    assert reverse("history:run-delete", kwargs={"run_id": running_run.pk}) not in live
    Run.objects.filter(pk=running_run.pk).update(status="ended", end_reason="stopped")
    live = client.get(url).content.decode()
    assert "Cancel run" not in live
    assert reverse("history:run-delete", kwargs={"run_id": running_run.pk}) in live
