"""successRule.bodyRegex runs on RE2: linear-time matching, and patterns RE2 cannot run are refused at save time."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from jobs.models import Job
from tests.factories import UserFactory
from tests.jobs.dashboard.test_job_form import _field_errors, _form
from tests.jobs.engine.execute_support import execute, make_job, make_run

NOT_RE2 = ["(?=lookahead)", r"(ok)\1", "(?<=a)b", "a{1001}"]
VALID_JOB = {
    "naturalId": "health",
    "schedule": {"kind": "interval", "seconds": 60},
    "request": {"url": "https://example.com/health"},
}


def _api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("pattern", NOT_RE2)
def test_the_api_refuses_a_pattern_re2_cannot_run_and_saves_nothing(editor, pattern):
    payload = {**VALID_JOB, "successRule": {"bodyRegex": pattern}}
    response = _api(editor).post("/api/jobs", payload, format="json")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert (error["location"], error["value"]) == ("body.successRule.bodyRegex", pattern)
    assert error["message"].startswith("Not a pattern RE2 can run (")
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_patch_with_such_a_pattern_changes_nothing(editor, team):
    client = _api(editor)
    assert client.post("/api/jobs", {**VALID_JOB, "successRule": {"bodyRegex": "ok"}}, format="json").status_code == 201

    response = client.patch("/api/jobs/health", {"successRule": {"bodyRegex": "(?!ok)"}}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["location"] == "body.successRule.bodyRegex"
    assert Job.objects.get(team=team, natural_id="health").success_body_regex == "ok"


@pytest.mark.django_db
def test_the_dashboard_form_puts_the_error_on_the_field(client, editor):
    client.force_login(editor)
    response = client.post(reverse("jobs:create"), _form(success_body_regex="(?=lookahead)"))

    assert response.status_code == 400
    assert "Not a pattern RE2 can run" in _field_errors(response.content.decode(), "id_success_body_regex")
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_the_admin_form_refuses_it_too(client, team):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    job = make_job(team, "https://example.com/")
    url = reverse("admin:jobs_job_change", args=[job.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "variables"}
    data.update(team=team.pk, success_body_regex="(?<=a)b", variables="{}", secret_headers="[]")
    data.update({"steps-TOTAL_FORMS": 0, "steps-INITIAL_FORMS": 0})

    response = client.post(url, data)

    assert response.status_code == 200
    assert "Not a pattern RE2 can run" in str(response.context["adminform"].form.errors["success_body_regex"])
    job.refresh_from_db()
    assert job.success_body_regex == ""


@pytest.mark.django_db(transaction=True)
def test_a_catastrophic_pattern_is_matched_in_linear_time(team, target):
    # `(x+)+z` against 100 KB of `x` backtracks exponentially in Python's re (28 bytes took 28.5 s).
    job = make_job(team, target.url("/bytes/100000"), success_body_regex="(x+)+z")
    started = time.monotonic()

    run = execute(make_run(job))

    assert time.monotonic() - started < 5
    assert (run.end_reason, run.error) == ("failed", "Body does not match /(x+)+z/")


@pytest.mark.django_db(transaction=True)
def test_a_stored_pattern_re2_cannot_run_fails_the_run_without_a_request_hanging(team, target):
    # A pattern saved before RE2 (Python's re accepted it) is not run by Python's re any more.
    job = make_job(team, target.url("/ok"))
    Job.objects.filter(pk=job.pk).update(success_body_regex=r"(ok)\1")

    run = execute(make_run(job))

    assert run.end_reason == "failed"
    assert run.error.startswith("Invalid success rule: Not a pattern RE2 can run (")
