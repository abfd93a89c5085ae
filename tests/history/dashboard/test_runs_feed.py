"""/runs/: the current team's runs across jobs, with a job history's filters, live rows and actions."""

from __future__ import annotations

import re

from django.urls import reverse

from history.models import Run
from tests.dashboard_support import make_runs
from tests.factories import JobFactory, RunFactory

FEED = reverse("history:runs")


def _rows(body: str) -> list[str]:
    return re.findall(r'<tr id="run-([0-9a-f-]{36})"', body)


def test_it_lists_every_job_of_the_team_and_no_other_team(as_user, viewer, job, other_team):
    other_job = JobFactory(team=job.team, natural_id="weekly", name="Weekly export")
    mine = [*make_runs(job, 2), *make_runs(other_job, 2)]
    hidden = make_runs(JobFactory(team=other_team), 3)
    response = as_user(viewer).get(FEED)
    assert response.status_code == 200
    body = response.content.decode()
    assert set(_rows(body)) == {str(run.pk) for run in mine}
    assert not {str(run.pk) for run in hidden} & set(_rows(body))
    assert "Nightly report</a>" in body
    assert "Weekly export</a>" in body  # the Job column
    assert f'href="{FEED}" aria-current="page">Runs</a>' in body  # the nav link


def test_it_filters_as_a_jobs_history_does_and_by_job(as_user, viewer, job):
    other_job = JobFactory(team=job.team, natural_id="weekly")
    failed = make_runs(job, 2, end_reason=Run.EndReason.FAILED, http_status=500)
    make_runs(job, 3)
    failed_elsewhere = make_runs(other_job, 1, end_reason=Run.EndReason.FAILED, http_status=503)
    client = as_user(viewer)
    body = client.get(FEED, {"end_reason": "failed"}).content.decode()
    assert set(_rows(body)) == {str(run.pk) for run in (*failed, *failed_elsewhere)}
    assert "The filter matches 3 runs" in body
    body = client.get(FEED, {"end_reason": "failed", "job": "nightly-report"}).content.decode()
    assert set(_rows(body)) == {str(run.pk) for run in failed}
    assert client.get(FEED, {"status": "nope"}).status_code == 400


def test_an_outsider_sees_their_own_team_only(as_user, outsider, job):
    make_runs(job, 2)
    response = as_user(outsider).get(FEED)
    assert response.status_code == 200
    assert _rows(response.content.decode()) == []


def test_new_runs_poll_keeps_the_filter_and_names_the_job(as_user, viewer, job):
    [old] = make_runs(job, 1)
    new = RunFactory(job=job, end_reason=Run.EndReason.FAILED)
    RunFactory(job=job)  # a success: not in the filter
    since = old.created_at.isoformat()
    response = as_user(viewer).get(reverse("history:runs-new"), {"since": since, "end_reason": "failed"})
    assert response.status_code == 200
    body = response.content.decode()
    assert _rows(body) == [str(new.pk)]
    assert "Nightly report</a>" in body


def test_the_anonymous_are_sent_to_log_in(client):
    assert client.get(FEED).status_code == 302


def test_the_feed_deletes_ticked_runs_of_several_jobs_but_never_another_teams(as_user, editor, job, other_team):
    mine = [*make_runs(job, 1), *make_runs(JobFactory(team=job.team), 1)]
    [theirs] = make_runs(JobFactory(team=other_team), 1)
    picked = [str(run.pk) for run in (*mine, theirs)]
    client = as_user(editor)
    page = client.post(reverse("history:feed-runs-delete"), {"run": picked}).content.decode()
    assert "Delete 2 runs?" in page
    done = client.post(reverse("history:feed-runs-delete"), {"run": picked, "confirm": "on"}, follow=True)
    assert done.redirect_chain == [(FEED, 302)]
    assert "Deleted 2 runs. 1 still running or already gone were kept." in done.content.decode()
    assert list(Run.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_a_viewer_cannot_delete_from_the_feed(as_user, viewer, job):
    [run] = make_runs(job, 1)
    response = as_user(viewer).post(reverse("history:feed-runs-delete"), {"run": [str(run.pk)], "confirm": "on"})
    assert response.status_code == 403
    assert Run.objects.filter(pk=run.pk).exists()
