"""What a user hit writing jobs: the form saving what the API refuses, errors in stages, unknown fields dropped,
a webhook said to GET, a one-off's zone lost, templates naming nothing, and the audit of a change."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from history.models import Run
from jobs.models import AuditEntry, Job, JobStep
from jobs.services import apikey_create
from tests.api_support import make_runs
from tests.jobs.dashboard.forms_support import job_form

pytestmark = pytest.mark.django_db

CREATE = reverse("jobs:create")
JOB = {
    "naturalId": "hooked",
    "schedule": {"kind": "cron", "expression": "0 3 * * *"},
    "request": {"url": "https://example.com/run"},
}


@pytest.fixture
def api(team, owner) -> APIClient:
    _, raw = apikey_create(
        team=team, name="writes", scopes=["job:read", "job:run", "job:edit", "team:admin"], created_by=owner
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _errors(response) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {error["location"]: error["message"] for error in response.json()["errors"]}


def _edit(job: Job) -> str:
    return reverse("jobs:edit", kwargs={"job_id": job.pk})


# --- The form refuses what the API refuses -------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("success_statuses", "abc"), ("success_body_regex", "([")])
def test_the_edit_form_refuses_a_success_rule_the_api_refuses(client, editor, api, field, value):
    job_id = api.post("/api/jobs", JOB, format="json").json()["id"]
    job = Job.objects.get(pk=job_id)
    client.force_login(editor)
    data = job_form([{"url": "https://example.com/run"}], natural_id="hooked", **{field: value})
    response = client.post(_edit(job), data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    job.refresh_from_db()
    assert getattr(job, field) == {"success_statuses": "200-299", "success_body_regex": ""}[field]
    api_name = {"success_statuses": "statuses", "success_body_regex": "bodyRegex"}[field]
    patched = api.patch(f"/api/jobs/{job_id}", {"successRule": {api_name: value}}, format="json")
    assert f"body.successRule.{api_name}" in _errors(patched)


# --- Every error at once, each on its field -------------------------------------------------------


def test_the_form_marks_every_bad_field_in_one_submit(client, editor):
    client.force_login(editor)
    data = job_form(
        [{"url": "ftp://example.com/x"}],
        natural_id="has space",
        cron_expression="61 * * * *",
        timezone="Mars/Olympus",
        success_statuses="abc",
        success_body_regex="([",
        retry_limit="lots",  # does not parse: the service still checks the rest
    )
    response = client.post(CREATE, data)
    assert response.status_code == 400
    form, (step,) = response.context["form"], response.context["formset"].forms
    assert {
        "natural_id",
        "cron_expression",
        "timezone",
        "success_statuses",
        "success_body_regex",
        "retry_limit",
    } <= set(form.errors)
    assert "url" in step.errors
    assert not Job.objects.exists()


def test_an_empty_url_is_marked_on_the_url_field(client, editor):
    client.force_login(editor)
    response = client.post(CREATE, job_form([{"url": ""}]))
    assert response.status_code == 400
    (step,) = response.context["formset"].forms
    assert step.errors["url"] == ["A URL is required."]
    assert "Please submit" not in response.content.decode()
    assert not Job.objects.exists()


def test_the_api_reports_every_error_at_once(api):
    payload = {
        "naturalId": "has space",
        "schedule": {"kind": "cron", "expression": "61 * * * *", "timezone": "Mars/Olympus"},
        "successRule": {"statuses": "abc", "bodyRegex": "(["},
        "steps": [
            {"name": "main", "config": {"url": "ftp://x.test/", "timeoutMs": 0}},
            {"name": "b", "kind": "email", "config": {"recipients": ["nope"]}},
        ],
    }
    locations = set(_errors(api.post("/api/jobs", payload, format="json")))
    assert {
        "body.naturalId",
        "body.schedule.expression",
        "body.schedule.timezone",
        "body.successRule.statuses",
        "body.successRule.bodyRegex",
        "body.steps[0].config.url",
        "body.steps[0].config.timeoutMs",
        "body.steps[1].config.recipients",
    } <= locations


# --- Unknown fields are refused, each named -------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"maxRunz": 3}, "body.maxRunz"),
        ({"retries": {"limit": 3}}, "body.retries"),
        ({"schedule": {"kind": "cron", "expression": "0 3 * * *", "tz": "UTC"}}, "body.schedule.tz"),
        ({"retry": {"limit": 1, "jitter": True}}, "body.retry.jitter"),
        ({"successRule": {"status": "200"}}, "body.successRule.status"),
        ({"retention": {"keep": 5}}, "body.retention.keep"),
        ({"request": {"url": "https://x.test/", "verb": "POST"}}, "body.request.verb"),
        ({"nextRunAt": "2030-01-01T00:00:00Z"}, "body.nextRunAt"),
    ],
)
def test_unknown_job_fields_are_refused_by_name(api, change, location):
    errors = _errors(api.post("/api/jobs", {**JOB, **change}, format="json"))
    assert location in errors
    assert not Job.objects.exists()


def test_unknown_fields_in_steps_and_their_settings_are_refused(api):
    payload = {
        **{k: v for k, v in JOB.items() if k != "request"},
        "steps": [{"name": "main", "retries": 1, "config": {"url": "https://x.test/", "timeout": 5}}],
    }
    errors = _errors(api.post("/api/jobs", payload, format="json"))
    assert errors["body.steps[0].retries"] == "Unknown field."
    assert errors["body.steps[0].config.timeout"] == "Unknown field."


def test_a_setting_of_another_kind_of_step_is_refused(api):
    payload = {
        **{k: v for k, v in JOB.items() if k != "request"},
        "steps": [{"name": "main", "config": {"url": "https://x.test/", "recipients": ["a@example.com"]}}],
    }
    assert "http step" in _errors(api.post("/api/jobs", payload, format="json"))["body.steps[0].config.recipients"]


def test_a_patch_with_an_unknown_field_changes_nothing(api):
    job_id = api.post("/api/jobs", JOB, format="json").json()["id"]
    errors = _errors(api.patch(f"/api/jobs/{job_id}", {"name": "New", "maxRunz": 3}, format="json"))
    assert errors == {"body.maxRunz": "Unknown field."}
    assert Job.objects.get(pk=job_id).name == "hooked"


def test_the_other_api_writes_refuse_unknown_fields(api, team):
    job_id = api.post("/api/jobs", JOB, format="json").json()["id"]
    job = Job.objects.get(pk=job_id)
    make_runs(job, 2)
    trigger = api.post(f"/api/jobs/{job_id}/run", {"variables": {}, "vars": {"a": 1}}, format="json")
    assert _errors(trigger) == {"body.vars": "Unknown field."}
    deleted = api.post(f"/api/jobs/{job_id}/history/delete", {"statuses": "ended"}, format="json")
    assert _errors(deleted) == {"body.statuses": "Unknown field."}
    assert Run.objects.filter(job=job).count() == 2
    assert _errors(api.post(f"/api/jobs/{job_id}/pause", {"until": "monday"}, format="json")) == {
        "body.until": "Unknown field."
    }
    assert Job.objects.get(pk=job_id).enabled
    run = Run.objects.filter(job=job).first()
    rerun = api.post(f"/api/jobs/{job_id}/history/{run.pk}/rerun", {"attempt": 2}, format="json")
    assert _errors(rerun) == {"body.attempt": "Unknown field."}
    key = api.post(f"/api/teams/{team.slug}/keys", {"name": "k", "scopes": ["job:read"], "ttl": 5}, format="json")
    assert _errors(key) == {"body.ttl": "Unknown field."}


def test_prunner_refuses_unknown_fields_in_its_own_shape(api):
    api.post("/api/jobs", JOB, format="json")
    response = api.post("/pipelines/schedule", {"pipeline": "hooked", "variablez": {}}, format="json")
    assert response.status_code == 400
    assert response.json() == {"error": "body.variablez: Unknown field."}
    assert not Run.objects.exists()


# --- A webhook step says what it sends ------------------------------------------------------------


def test_a_webhook_step_reads_post_as_it_sends(api):
    hook = {"name": "hook", "kind": "webhook", "runIf": "on_failure", "config": {"url": "https://hooks.test/x"}}
    job = api.post("/api/jobs", {**JOB, "notify": [hook]}, format="json").json()
    (shown,) = [step for step in job["steps"] if step["kind"] == "webhook"]
    assert shown["config"]["method"] == "POST"
    assert "body" not in shown["config"]
    stored = JobStep.objects.get(kind="webhook").config
    assert stored["method"] == "POST"
    assert "body" not in stored


@pytest.mark.parametrize(("config", "key"), [({"method": "GET"}, "method"), ({"body": "{}"}, "body")])
def test_a_webhook_step_refuses_a_method_or_body_it_would_not_send(api, config, key):
    hook = {"name": "hook", "kind": "webhook", "config": {"url": "https://hooks.test/x", **config}}
    errors = _errors(api.post("/api/jobs", {**JOB, "notify": [hook]}, format="json"))
    assert f"body.notify[0].config.{key}" in errors


def test_a_webhook_stored_as_get_is_shown_as_the_post_it_sends(api):
    hook = {"name": "hook", "kind": "webhook", "config": {"url": "https://hooks.test/x"}}
    job_id = api.post("/api/jobs", {**JOB, "notify": [hook]}, format="json").json()["id"]
    JobStep.objects.filter(kind="webhook").update(
        config={"method": "GET", "url": "https://hooks.test/x", "headers": {}, "body": "", "timeout_ms": 30000}
    )
    (shown,) = [s for s in api.get(f"/api/jobs/{job_id}").json()["steps"] if s["kind"] == "webhook"]
    assert shown["config"]["method"] == "POST"
    # And the job can still be changed, its webhook kept as it is sent.
    assert (
        api.patch(f"/api/jobs/{job_id}", {"request": {"url": "https://example.com/2"}}, format="json").status_code
        == 200
    )


# --- Secret header values in the edit form -------------------------------------------------------


def test_the_edit_form_shows_secret_values_as_the_placeholder_and_keeps_them(client, editor, api):
    request = {"url": "https://example.com/run", "headers": {"X-Token": "hunter2", "Authorization": "Bearer abc"}}
    job_id = api.post("/api/jobs", {**JOB, "request": request, "secretHeaders": ["X-Token"]}, format="json").json()[
        "id"
    ]
    job = Job.objects.get(pk=job_id)
    client.force_login(editor)
    page = client.get(_edit(job)).content.decode()
    assert "enc:v1:" not in page
    assert "hunter2" not in page
    assert "X-Token: [redacted]" in page
    # A submit with an error shows the placeholder again, never the stored value.
    headers = "X-Token: [redacted]\nAuthorization: [redacted]"
    data = job_form([{"url": "https://example.com/run", "headers": headers}], natural_id="hooked")
    failed = client.post(_edit(job), {**data, "success_statuses": "abc"}).content.decode()
    assert "enc:v1:" not in failed
    assert "hunter2" not in failed
    data["secret_headers"] = "X-Token"
    assert client.post(_edit(job), data).status_code == 302
    assert JobStep.objects.get(job=job).config["headers"]["X-Token"].startswith("enc:v1:")
    assert api.get(f"/api/jobs/{job_id}").json()["steps"][0]["config"]["headers"]["X-Token"] == "[redacted]"


# --- A one-off keeps its zone ----------------------------------------------------------------------


def test_a_one_off_keeps_its_timezone_through_both_paths(client, editor, api):
    at = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    schedule = {"kind": "once", "at": at.isoformat(), "timezone": "Europe/Berlin"}
    created = api.post("/api/jobs", {**JOB, "schedule": schedule}, format="json").json()
    assert created["schedule"]["timezone"] == "Europe/Berlin"
    assert "Europe/Berlin" in created["schedule"]["description"]
    client.force_login(editor)
    data = job_form(natural_id="once-form", schedule_kind="once", run_at="2099-06-01T10:00", timezone="Europe/Berlin")
    assert client.post(CREATE, data).status_code == 302
    job = Job.objects.get(natural_id="once-form")
    assert job.timezone == "Europe/Berlin"
    assert job.run_at.isoformat() == "2099-06-01T08:00:00+00:00"  # 10:00 on Berlin's summer clock
    edit = client.get(_edit(job)).content.decode()
    assert 'value="2099-06-01T10:00"' in edit
    assert 'value="Europe/Berlin"' in edit


# --- Templates name what a run will have -----------------------------------------------------------


def test_a_template_naming_an_unknown_variable_is_refused_with_its_name(api):
    request = {"url": "https://example.com/{{ regon }}", "headers": {"X-Run": "{{ run_id }}"}}
    errors = _errors(api.post("/api/jobs", {**JOB, "variables": {"region": "eu"}, "request": request}, format="json"))
    assert "{{ regon }}" in errors["body.request.url"]
    assert "body.request.headers" not in errors


def test_templates_may_use_the_job_variables_and_every_built_in_name(api):
    names = ["run_id", "scheduled_for", "attempt", "job.natural_id", "job.name", "region"]
    body = " ".join("{{ %s }}" % name for name in names)  # noqa: UP031
    request = {"url": "https://example.com/{{ region }}", "method": "POST", "body": body}
    mail = {
        "name": "mail",
        "kind": "email",
        "config": {"recipients": ["ops@example.com"], "subject": "{{ outcome }} {{ failures }}", "body": body},
    }
    payload = {**JOB, "variables": {"region": "eu"}, "request": request, "notify": [mail]}
    assert api.post("/api/jobs", payload, format="json").status_code == 201


def test_removing_a_variable_a_step_uses_is_refused(api):
    request = {"url": "https://example.com/{{ region }}"}
    job_id = api.post("/api/jobs", {**JOB, "variables": {"region": "eu"}, "request": request}, format="json").json()[
        "id"
    ]
    errors = _errors(api.patch(f"/api/jobs/{job_id}", {"variables": {}}, format="json"))
    assert "{{ region }}" in errors["body.variables"]


def test_the_form_marks_an_unknown_variable_on_its_field(client, editor):
    client.force_login(editor)
    response = client.post(CREATE, job_form([{"url": "https://example.com/{{ nope }}"}]))
    (step,) = response.context["formset"].forms
    assert "{{ nope }}" in step.errors["url"][0]


# --- The audit of a change -------------------------------------------------------------------------


def test_a_job_update_lists_only_what_changed_with_old_and_new_values(api, team):
    request = {"url": "https://example.com/run", "headers": {"X-Token": "hunter2"}}
    job_id = api.post("/api/jobs", {**JOB, "request": request, "secretHeaders": ["X-Token"]}, format="json").json()[
        "id"
    ]
    change = {
        "name": "hooked",  # unchanged: not listed
        "retry": {"limit": 3},
        "request": {"url": "https://example.com/run", "headers": {"X-Token": "swordfish"}},
    }
    assert api.patch(f"/api/jobs/{job_id}", change, format="json").status_code == 200
    entry = AuditEntry.objects.get(team=team, action="job.update")
    assert entry.details["fields"] == ["retry_limit"] or set(entry.details["fields"]) <= {"retry_limit", "steps"}
    assert entry.details["changes"]["retry_limit"] == {"old": 0, "new": 3}
    assert "name" not in entry.details["changes"]
    text = json.dumps(entry.details)
    assert "hunter2" not in text
    assert "swordfish" not in text
    assert "enc:v1:" not in text


def test_the_audit_page_shows_changes_as_json(client, owner, api, team):
    job_id = api.post("/api/jobs", JOB, format="json").json()["id"]
    api.patch(f"/api/jobs/{job_id}", {"enabled": False, "description": "Nightly"}, format="json")
    client.force_login(owner)
    page = client.get(reverse("jobs:audit")).content.decode()
    assert (
        "changes={&quot;description&quot;: {&quot;new&quot;: &quot;Nightly&quot;, &quot;old&quot;: &quot;&quot;}"
        in page
    )
    assert "{&#x27;" not in page  # no Python repr
