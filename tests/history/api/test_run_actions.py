"""Run actions: delete (409 while active), delete by filters, cancel, rerun."""

from __future__ import annotations

import pytest

from history.models import Run, RunStep
from tests.api_support import add_step, make_runs

pytestmark = pytest.mark.django_db


def test_delete_an_ended_run(as_user, editor, job):
    run = make_runs(job, 1)[0]
    add_step(run)
    assert as_user(editor).delete(f"/api/jobs/{job.natural_id}/history/{run.pk}").status_code == 204
    assert not Run.objects.exists()
    assert not RunStep.objects.exists()


@pytest.mark.parametrize("status", [Run.Status.PENDING, Run.Status.RUNNING])
def test_deleting_an_active_run_is_409(as_user, editor, job, status):
    run = make_runs(job, 1, status=status, end_reason="")[0]
    response = as_user(editor).delete(f"/api/jobs/{job.pk}/history/{run.pk}")
    assert response.status_code == 409
    assert "cancel it first" in response.json()["detail"]
    assert Run.objects.filter(pk=run.pk).exists()


def test_delete_by_filters_counts_and_keeps_active_runs(as_user, editor, job):
    make_runs(job, 4, end_reason="failed", http_status=500)
    make_runs(job, 3, http_status=200)
    make_runs(job, 2, status=Run.Status.RUNNING, end_reason="")
    client = as_user(editor)
    response = client.post(f"/api/jobs/{job.pk}/history/delete", {"httpStatus": "5xx"}, format="json")
    assert response.json() == {"deleted": 4}
    assert Run.objects.count() == 5
    response = client.post(f"/api/jobs/{job.pk}/history/delete", {}, format="json")
    assert response.json() == {"deleted": 3}
    assert set(Run.objects.values_list("status", flat=True)) == {"running"}


def test_delete_by_filters_touches_only_this_job(as_user, editor, job, team):
    from tests.factories import JobFactory

    other = JobFactory(team=team)
    make_runs(other, 3)
    make_runs(job, 2)
    response = as_user(editor).post(f"/api/jobs/{job.pk}/history/delete", {"success": True}, format="json")
    assert response.json() == {"deleted": 2}
    assert Run.objects.filter(job=other).count() == 3


def test_delete_by_filters_in_batches(as_user, editor, job):
    make_runs(job, 2500)
    response = as_user(editor).post(f"/api/jobs/{job.pk}/history/delete", {"status": "ended"}, format="json")
    assert response.json() == {"deleted": 2500}


def test_cancel_a_pending_run(as_user, operator, job):
    run = make_runs(job, 1, status=Run.Status.PENDING, end_reason="")[0]
    add_step(run, status=RunStep.Status.WAITING)
    response = as_user(operator).post(f"/api/jobs/{job.pk}/history/{run.pk}/cancel")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["endReason"]) == ("ended", "stopped")
    assert body["progress"][0]["result"]["status"] == "warning"


def test_cancel_a_running_run_asks_it_to_stop(as_user, operator, job):
    run = make_runs(job, 1, status=Run.Status.RUNNING, end_reason="")[0]
    response = as_user(operator).post(f"/api/jobs/{job.pk}/history/{run.pk}/cancel")
    assert response.status_code == 200
    run.refresh_from_db()
    assert run.cancel_requested_at is not None


def test_cancelling_an_ended_run_is_409(as_user, operator, job):
    run = make_runs(job, 1)[0]
    response = as_user(operator).post(f"/api/jobs/{job.pk}/history/{run.pk}/cancel")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"


def test_rerun_starts_a_new_run_with_the_same_variables(as_user, operator, job):
    run = make_runs(job, 1, variables={"day": "monday"})[0]
    response = as_user(operator).post(f"/api/jobs/{job.pk}/history/{run.pk}/rerun")
    assert response.status_code == 202
    body = response.json()
    assert body["id"] != str(run.pk)
    assert (body["status"], body["variables"], body["user"]) == ("pending", {"day": "monday"}, "oscar")
    assert Run.objects.count() == 2
