"""Deleting runs: POST + CSRF + a confirmation step, editors only, never a running run."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from history.models import Run
from tests.dashboard_support import make_runs
from tests.factories import JobFactory


def _delete(run: Run) -> str:
    return reverse("history:run-delete", kwargs={"run_id": run.pk})


def _bulk(job) -> str:
    return reverse("history:runs-delete", kwargs={"job_id": job.pk})


def test_it_asks_before_deleting_a_run(as_user, editor, ended_run):
    client = as_user(editor)
    page = client.get(_delete(ended_run)).content.decode()
    assert "Delete this run?" in page
    assert 'method="post"' in page
    assert Run.objects.filter(pk=ended_run.pk).exists()
    response = client.post(_delete(ended_run))
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:detail", kwargs={"job_id": ended_run.job_id})
    assert not Run.objects.filter(pk=ended_run.pk).exists()


def test_it_never_deletes_a_running_run(as_user, editor, running_run):
    client = as_user(editor)
    page = client.get(_delete(running_run))
    assert "can't be deleted" in page.content.decode()
    assert "Delete the run</button>" not in page.content.decode()
    assert client.post(_delete(running_run)).status_code == 409
    assert Run.objects.filter(pk=running_run.pk).exists()


def test_it_hides_the_delete_button_from_lower_roles(as_user, operator, ended_run):
    body = as_user(operator).get(reverse("history:run-detail", kwargs={"run_id": ended_run.pk})).content.decode()
    assert _delete(ended_run) not in body
    assert "Rerun" in body


def test_it_confirms_then_deletes_runs_in_bulk_keeping_running_ones(as_user, editor, job, running_run):
    ended = make_runs(job, 3)
    elsewhere = make_runs(JobFactory(team=job.team), 1)[0]  # same team, another job: not this table's
    picked = [str(run.pk) for run in (*ended[:2], running_run, elsewhere)]
    client = as_user(editor)
    page = client.post(_bulk(job), {"run": picked}).content.decode()
    assert "Delete 2 runs of Nightly report?" in page
    assert "will be kept" in page
    assert Run.objects.filter(job=job).count() == 4  # nothing deleted before the confirmation
    hidden = re.findall(r'name="run" value="([0-9a-f-]{36})"', page)
    response = client.post(_bulk(job), {"run": hidden, "confirm": "on"})
    assert response.status_code == 302
    assert set(Run.objects.filter(job=job).values_list("pk", flat=True)) == {ended[2].pk, running_run.pk}
    assert Run.objects.filter(pk=elsewhere.pk).exists()


def test_it_refuses_a_forged_bulk_delete_from_a_viewer(as_user, viewer, job, ended_run):
    response = as_user(viewer).post(_bulk(job), {"run": [str(ended_run.pk)], "confirm": "on"})
    assert response.status_code == 403
    assert Run.objects.filter(pk=ended_run.pk).exists()


def test_it_answers_an_outsiders_bulk_delete_with_404(as_user, outsider, job, ended_run):
    response = as_user(outsider).post(_bulk(job), {"run": [str(ended_run.pk)], "confirm": "on"})
    assert response.status_code == 404
    assert Run.objects.filter(pk=ended_run.pk).exists()


def test_it_sends_an_empty_selection_back_to_the_job(as_user, editor, job):
    response = as_user(editor).post(_bulk(job), {"run": ["not-a-uuid"]})
    assert response.status_code == 302


@pytest.mark.parametrize("bulk", [False, True], ids=["single", "bulk"])
def test_it_enforces_csrf(editor, job, ended_run, bulk):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    url = _bulk(job) if bulk else _delete(ended_run)
    data = {"run": [str(ended_run.pk)], "confirm": "on"} if bulk else {}
    assert client.post(url, data).status_code == 403
    assert Run.objects.filter(pk=ended_run.pk).exists()
    # The confirmation page carries the token; with it the same POST goes through.
    page = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk}) if bulk else url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(url, {**data, "csrfmiddlewaretoken": token}).status_code == 302
    assert not Run.objects.filter(pk=ended_run.pk).exists()


def test_it_enforces_csrf_on_the_other_actions(editor, job, ended_run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    for name, kwargs in (
        ("jobs:run-now", {"job_id": job.pk}),
        ("jobs:pause", {"job_id": job.pk}),
        ("jobs:delete", {"job_id": job.pk}),
        ("history:run-rerun", {"run_id": ended_run.pk}),
    ):
        assert client.post(reverse(name, kwargs=kwargs)).status_code == 403, name
    assert Run.objects.filter(job=job).count() == 1
    job.refresh_from_db()
    assert job.enabled is True
