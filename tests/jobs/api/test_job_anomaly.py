"""A job's anomaly thresholds: overridden through the API (validated by the write service), shown with the
thresholds in force, used by the engine, and on the dashboard's job page with the band learned so far."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from history.models import RunBaseline
from jobs.engine.definitions import JobCache

pytestmark = pytest.mark.django_db


def _anomaly(client, job) -> dict:
    response = client.get(f"/api/jobs/{job.pk}")
    assert response.status_code == 200, response.content
    return response.json()["anomaly"]


def test_a_new_job_shows_the_defaults_in_force(as_key, job, settings):
    settings.HOURGLASS_ANOMALY_WINDOW = 40
    settings.HOURGLASS_ANOMALY_DURATION_K = 4
    shown = _anomaly(as_key(["job:read"]), job)
    assert {k: shown[k] for k in ("window", "minSamples", "durationK", "sizeFactor", "jsonField")} == {
        "window": None,
        "minSamples": None,
        "durationK": None,
        "sizeFactor": None,
        "jsonField": "",
    }
    assert shown["inForce"] == {
        "window": 40,
        "minSamples": 10,
        "durationK": 4.0,
        "sizeFactor": 4.0,
        "jsonField": "",
        "durationFloorMs": 100,
        "sizeFloorBytes": 64,
    }


def test_thresholds_are_overridden_through_the_api_and_the_engine_uses_them(as_key, job):
    client = as_key(["job:read", "job:edit"])
    change = {"window": 50, "minSamples": 20, "durationK": 3, "sizeFactor": 0, "jsonField": "data.items"}
    response = client.patch(f"/api/jobs/{job.pk}", {"anomaly": change}, format="json")
    assert response.status_code == 200, response.content
    shown = response.json()["anomaly"]
    assert shown["inForce"] == {
        **change,
        "durationK": 3.0,
        "sizeFactor": 0.0,
        "durationFloorMs": 100,
        "sizeFloorBytes": 64,
    }
    job.refresh_from_db()
    assert (job.anomaly_window, job.anomaly_min_samples, job.anomaly_duration_k) == (50, 20, 3.0)
    rule = JobCache().get_many({job.pk: job.updated_at})[job.pk].anomaly
    assert (rule.window, rule.min_samples, rule.duration_k, rule.size_factor, rule.json_path) == (
        50,
        20,
        3.0,
        0.0,
        ("data", "items"),
    )
    # Back to the defaults with null.
    response = client.patch(f"/api/jobs/{job.pk}", {"anomaly": {"window": None, "minSamples": None}}, format="json")
    assert response.json()["anomaly"]["inForce"]["window"] == 30


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"minSamples": 40}, "body.anomaly.minSamples"),  # more than the default window of 30
        ({"window": 10, "minSamples": 11}, "body.anomaly.minSamples"),
        ({"sizeFactor": 0.5}, "body.anomaly.sizeFactor"),
        ({"durationK": -1}, "body.anomaly.durationK"),
        ({"jsonField": "/a~2"}, "body.anomaly.jsonField"),
        ({"window": 501}, "body.anomaly.window"),
        ({"inForce": {"window": 3}}, "body.anomaly.inForce"),
    ],
)
def test_a_bad_threshold_is_a_problem_on_its_field_and_nothing_changes(as_key, job, change, location):
    before = job.updated_at
    response = as_key(["job:read", "job:edit"]).patch(f"/api/jobs/{job.pk}", {"anomaly": change}, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert location in [error["location"] for error in response.json()["errors"]]
    job.refresh_from_db()
    assert job.updated_at == before


def test_a_viewer_cannot_change_them(as_user, viewer, job):
    response = as_user(viewer).patch(f"/api/jobs/{job.pk}", {"anomaly": {"window": 50}}, format="json")
    assert response.status_code == 403


def test_the_job_page_shows_the_band_in_force(client, viewer, job, settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    client.force_login(viewer)
    page = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert "data-anomaly-duration>learning<" in page
    assert "(0 so far)" in page

    RunBaseline.objects.create(
        job=job,
        durations_ms=[1000, 1100, 900, 1000, 1050, 950, 1000, 1200, 800, 1000],
        response_bytes=[500] * 10,
        updated_at=timezone.now(),
    )
    page = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert "data-anomaly-duration>750–1250 ms<" in page
    assert "÷/× 4 of 500 B" in page
    assert "Median 1000 ms ± 5·MAD (50 ms) of 10 runs." in page


def test_the_job_page_says_which_checks_are_off(client, viewer, job):
    job.anomaly_duration_k, job.anomaly_size_factor, job.anomaly_json_field = 0, 0, "/status"
    job.save()
    client.force_login(viewer)
    page = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert "data-anomaly-duration>off<" in page
    assert "data-anomaly-size>off<" in page
    assert '<span class="mono">/status</span>' in page


def test_the_dashboard_form_saves_them_and_shows_them_again(client, editor, team):
    from jobs.models import Job
    from tests.jobs.dashboard.forms_support import job_form

    client.force_login(editor)
    data = job_form(
        anomaly_window="50",
        anomaly_min_samples="20",
        anomaly_duration_k="3.5",
        anomaly_size_factor="0",
        anomaly_json_field="/data/items",
    )
    response = client.post(reverse("jobs:create"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get(natural_id="billing-sync")
    assert (job.anomaly_window, job.anomaly_min_samples, job.anomaly_duration_k) == (50, 20, 3.5)
    assert (job.anomaly_size_factor, job.anomaly_json_field) == (0.0, "/data/items")
    form = client.get(reverse("jobs:edit", kwargs={"job_id": job.pk})).content.decode()
    assert 'name="anomaly_json_field" value="/data/items"' in form
    assert 'name="anomaly_duration_k" value="3.5"' in form


def test_the_dashboard_form_refuses_a_minimum_above_the_window(client, editor, team):
    from jobs.models import Job
    from tests.jobs.dashboard.forms_support import job_form

    client.force_login(editor)
    response = client.post(reverse("jobs:create"), job_form(anomaly_window="10", anomaly_min_samples="11"))
    assert response.status_code == 400
    assert "At most the window (10 runs), not 11." in response.content.decode()
    assert not Job.objects.exists()
