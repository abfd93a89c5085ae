"""Secret header values are write-only: replaced or removed, never revealed, not even to an editor.

A URL moved to another origin (scheme, host or port) drops the stored secrets sent back as the placeholder,
un-marking a header drops its value instead of un-sealing it, and the answer says what was dropped. Each way a
value could come back out is tried: the API, the dashboard's edit page, the admin, a run (through the real
executor, against the real HTTP target), its recorded request, the audit log and the logs.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from django.urls import reverse

from history.models import Run, RunStep
from jobs.crypto import decrypt_config
from jobs.models import AuditEntry, Job
from tests.jobs.dashboard.forms_support import job_form
from tests.jobs.engine.execute_support import execute, make_run
from tests.security.test_secrets import dump_database

pytestmark = pytest.mark.django_db(transaction=True)  # the engine writes results on threads of its own

BEARER = "Bearer s3cr3t-bearer-value"
CUSTOM = "s3cr3t-custom-value"
PLACEHOLDER = "[redacted]"


@pytest.fixture
def client(as_key, owner):
    return as_key(["job:read", "job:run", "job:edit", "team:admin"], created_by=owner)


@pytest.fixture
def secret_job(client, target) -> Job:
    payload = {
        "naturalId": "vault",
        "schedule": {"kind": "cron", "expression": "0 3 * * *"},
        "request": {
            "url": target.url("/ok"),
            "headers": {"Authorization": BEARER, "X-Custom": CUSTOM, "Accept": "*/*"},
        },
        "secretHeaders": ["X-Custom"],
    }
    response = client.post("/api/jobs", payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["droppedSecrets"] == []
    return Job.objects.get(natural_id="vault")


def _received_headers(target, path: str = "/ok") -> dict[str, str]:
    (received,) = target.received(path)
    return {name.lower(): value for name, value in received.headers.items()}


def _stored_headers(job: Job) -> dict[str, str]:
    return job.steps.get(name="main").config["headers"]


def _patch(client, job: Job, body: dict) -> dict:
    response = client.patch(f"/api/jobs/{job.pk}", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _leaks(text: str) -> list[str]:
    return [secret for secret in (BEARER, CUSTOM, "enc:v1:") if secret in text]


def test_the_api_shows_the_placeholder_never_the_value_nor_its_ciphertext(client, secret_job):
    body = client.get(f"/api/jobs/{secret_job.pk}").content.decode()
    headers = json.loads(body)["steps"][0]["config"]["headers"]
    assert headers == {"Authorization": PLACEHOLDER, "X-Custom": PLACEHOLDER, "Accept": "*/*"}
    assert _leaks(body) == []
    assert _leaks(client.get("/api/jobs").content.decode()) == []


def test_the_placeholder_on_the_same_origin_keeps_the_values(client, secret_job, target):
    url = target.url("/ok").replace("http://", "HTTP://") + "?changed=1"  # same scheme, host and port
    headers = {"Authorization": PLACEHOLDER, "X-Custom": PLACEHOLDER, "Accept": "*/*"}
    answer = _patch(client, secret_job, {"request": {"url": url, "headers": headers, "timeoutMs": 4000}})
    assert answer["droppedSecrets"] == []
    assert _leaks(json.dumps(answer)) == []
    execute(make_run(secret_job))
    got = _received_headers(target)
    assert (got["authorization"], got["x-custom"]) == (BEARER, CUSTOM)


def test_a_new_origin_drops_the_secrets_and_the_target_never_gets_them(client, secret_job, target, caplog):
    # localhost reaches the same test target, but it is another origin than 127.0.0.1.
    evil = target.url("/ok").replace("127.0.0.1", "localhost")
    headers = {"Authorization": PLACEHOLDER, "X-Custom": PLACEHOLDER, "Accept": "*/*"}
    answer = _patch(client, secret_job, {"request": {"url": evil, "headers": headers}})
    assert sorted((d["header"], d["reason"]) for d in answer["droppedSecrets"]) == [
        ("Authorization", "origin"),
        ("X-Custom", "origin"),
    ]
    assert _stored_headers(secret_job) == {"Accept": "*/*"}
    with caplog.at_level(logging.DEBUG):
        run = execute(make_run(secret_job))
    assert run.status == Run.Status.ENDED
    got = _received_headers(target)
    assert "authorization" not in got
    assert "x-custom" not in got
    assert got["accept"] == "*/*"
    entry = AuditEntry.objects.filter(action="job.update").latest("id")
    assert entry.details["dropped_headers"] == ["main:Authorization", "main:X-Custom"]
    texts = [caplog.text, dump_database(), client.get(f"/api/jobs/{secret_job.pk}/history/{run.pk}").content.decode()]
    assert [_leaks(text.replace("enc:v1:", "")) for text in texts] == [[], [], []]


def test_the_value_sent_again_with_the_new_origin_is_kept(client, secret_job, target):
    evil = target.url("/ok").replace("127.0.0.1", "localhost")
    answer = _patch(client, secret_job, {"request": {"url": evil, "headers": {"Authorization": "Bearer new-one"}}})
    assert answer["droppedSecrets"] == []  # X-Custom was left out: removed, as any header left out is
    assert _stored_headers(secret_job)["Authorization"].startswith("enc:v1:")
    execute(make_run(secret_job))
    got = _received_headers(target)
    assert got["authorization"] == "Bearer new-one"
    assert "x-custom" not in got


def test_unmarking_a_header_drops_its_value_and_never_shows_it(client, secret_job, target):
    answer = _patch(client, secret_job, {"secretHeaders": []})
    assert [(d["step"], d["header"], d["reason"]) for d in answer["droppedSecrets"]] == [
        ("main", "X-Custom", "unmarked")
    ]
    assert set(_stored_headers(secret_job)) == {"Authorization", "Accept"}
    run = execute(make_run(secret_job))
    assert "x-custom" not in _received_headers(target)
    outputs = [
        client.get(f"/api/jobs/{secret_job.pk}").content.decode(),
        client.get(f"/api/jobs/{secret_job.pk}/history/{run.pk}").content.decode(),
        client.get("/api/audit").content.decode(),
        str(list(RunStep.objects.values())),
        dump_database().replace("enc:v1:", ""),
    ]
    assert [_leaks(text) for text in outputs] == [[]] * len(outputs)


def test_a_value_sealed_before_its_header_was_unmarked_is_never_shown(client, secret_job, target):
    # As the service let it happen before: the name un-marked, the value left sealed.
    Job.objects.filter(pk=secret_job.pk).update(secret_headers=[])
    assert client.get(f"/api/jobs/{secret_job.pk}").json()["steps"][0]["config"]["headers"]["X-Custom"] == PLACEHOLDER
    run = execute(make_run(secret_job))
    assert _received_headers(target)["x-custom"] == CUSTOM  # still sent where it was meant to go
    assert run.request["headers"]["X-Custom"] == PLACEHOLDER
    outputs = [
        str(run.request),
        str(list(RunStep.objects.values())),
        client.get(f"/api/jobs/{secret_job.pk}/history/{run.pk}").content.decode(),
        client.get(f"/job/detail?id={run.pk}").content.decode(),
        b"".join(client.get(f"/api/jobs/{secret_job.pk}/history/export?format=ndjson").streaming_content).decode(),
    ]
    assert [_leaks(text) for text in outputs] == [[]] * len(outputs)


def test_a_copied_ciphertext_is_refused_as_a_value(client, secret_job, target):
    sealed = _stored_headers(secret_job)["Authorization"]
    payload = {
        "naturalId": "thief",
        "schedule": {"kind": "cron", "expression": "0 3 * * *"},
        "request": {"url": target.url("/steal"), "headers": {"Authorization": sealed}},
    }
    response = client.post("/api/jobs", payload, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["location"] == "body.request.headers"
    assert not Job.objects.filter(natural_id="thief").exists()


def test_the_dashboard_edit_page_shows_the_placeholder_and_keeps_the_values(owner, secret_job, target):
    browser = Client()
    browser.force_login(owner)
    edit = reverse("jobs:edit", args=[secret_job.pk])
    page = browser.get(edit).content.decode()
    assert "Authorization: [redacted]" in page
    assert _leaks(page) == []
    headers = "Authorization: [redacted]\nX-Custom: [redacted]\nAccept: */*"
    data = job_form(
        steps=[{"url": target.url("/ok"), "headers": headers}], natural_id="vault", secret_headers="X-Custom"
    )
    data["steps-INITIAL_FORMS"] = 1  # as the page's management form says: the step is the job's own
    assert browser.post(edit, data).status_code == 302
    stored = decrypt_config(secret_job.steps.get().config)["headers"]
    assert stored == {"Authorization": BEARER, "X-Custom": CUSTOM, "Accept": "*/*"}
    # Another origin: dropped, and the page says so.
    data["steps-0-url"] = target.url("/ok").replace("127.0.0.1", "localhost")
    page = browser.post(edit, data, follow=True).content.decode()
    assert "Dropped the stored value of the secret header Authorization (step main)" in page
    assert "Dropped the stored value of the secret header X-Custom (step main)" in page
    execute(make_run(secret_job))
    got = _received_headers(target)
    assert "authorization" not in got
    assert "x-custom" not in got


def _admin_post_data(page, job: Job) -> dict:
    data = {}
    forms = [page.context["adminform"].form] + list(page.context["inline_admin_formsets"][0].formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is not None and value is not False:  # an unticked box is left out, as a browser does
                data[form.add_prefix(name)] = json.dumps(value) if isinstance(value, list | dict) else value
    formset = page.context["inline_admin_formsets"][0].formset
    data.update(
        {f"{formset.prefix}-TOTAL_FORMS": len(formset.forms), f"{formset.prefix}-INITIAL_FORMS": len(formset.forms)}
    )
    data.update({"team": job.team_id, "variables": "{}", "secret_headers": json.dumps(job.secret_headers)})
    return data


def test_the_admin_shows_the_placeholder_and_drops_on_a_new_origin(owner, secret_job, target):
    owner.is_staff = owner.is_superuser = True  # the steps inline needs Django's model permissions
    owner.save()
    browser = Client()
    browser.force_login(owner)
    url = reverse("admin:jobs_job_change", args=[secret_job.pk])
    page = browser.get(url)
    assert _leaks(page.content.decode()) == []
    data = _admin_post_data(page, secret_job)
    assert browser.post(url, data).status_code == 302  # unchanged: the placeholders keep the values
    assert decrypt_config(secret_job.steps.get().config)["headers"]["Authorization"] == BEARER
    data = _admin_post_data(browser.get(url), secret_job)  # the saved steps are new rows: read the page again
    config = json.loads(data["steps-0-config"])
    config["url"] = target.url("/ok").replace("127.0.0.1", "localhost")
    data["steps-0-config"] = json.dumps(config)
    page = browser.post(url, data, follow=True).content.decode()
    assert "Dropped the stored value of the secret header Authorization (step main)" in page
    assert _stored_headers(secret_job) == {"Accept": "*/*"}


def test_run_variables_may_not_point_the_secrets_at_another_origin(client, as_key, owner, target):
    base = target.url("")
    payload = {
        "naturalId": "templated",
        "schedule": {"kind": "cron", "expression": "0 3 * * *"},
        "request": {"url": base + "{{path}}", "headers": {"Authorization": BEARER}},
        "variables": {"path": "/ok"},
    }
    assert client.post("/api/jobs", payload, format="json").status_code == 201
    operator = as_key(["job:read", "job:run"], created_by=owner)
    steal = {"path": "@" + base.removeprefix("http://").replace("127.0.0.1", "localhost") + "/ok"}
    response = operator.post("/api/jobs/templated/run", {"variables": steal}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["location"] == "body.variables"
    response = operator.post("/pipelines/schedule", {"pipeline": "templated", "variables": steal}, format="json")
    assert response.status_code == 400
    assert "another origin" in response.json()["error"]
    assert not Run.objects.exists()
    # A path on the same origin is fine, and the secret goes there.
    response = operator.post("/api/jobs/templated/run", {"variables": {"path": "/ok?page=2"}}, format="json")
    assert response.status_code == 202
    execute(Run.objects.get())
    assert _received_headers(target)["authorization"] == BEARER


def test_job_variables_that_move_the_origin_drop_the_secrets(client, target):
    payload = {
        "naturalId": "hosted",
        "schedule": {"kind": "cron", "expression": "0 3 * * *"},
        "request": {"url": "http://{{host}}/ok", "headers": {"Authorization": BEARER}},
        "variables": {"host": target.url("").removeprefix("http://")},
    }
    assert client.post("/api/jobs", payload, format="json").status_code == 201
    job = Job.objects.get(natural_id="hosted")
    moved = {"host": target.url("").removeprefix("http://").replace("127.0.0.1", "localhost")}
    answer = _patch(client, job, {"variables": moved})
    assert [(d["header"], d["reason"]) for d in answer["droppedSecrets"]] == [("Authorization", "origin")]
    execute(make_run(job))
    assert "authorization" not in _received_headers(target)
    # Variables that keep the origin keep the secret.
    _patch(client, job, {"request": {"url": "http://{{host}}/ok", "headers": {"Authorization": BEARER}}})
    assert _patch(client, job, {"variables": {**moved, "other": "1"}})["droppedSecrets"] == []
    assert _stored_headers(job)["Authorization"].startswith("enc:v1:")
