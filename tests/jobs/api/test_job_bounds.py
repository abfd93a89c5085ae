"""What one job may ask for is bounded (steps, headers, body, run variables, interval), and framing or hop-by-hop
headers are refused: at save time, with the field named, through the API, prunner and the dashboard alike."""

from __future__ import annotations

import pytest
from django.urls import reverse

from history.models import Run
from jobs.models import Job, JobStep
from tests.jobs.dashboard.forms_support import job_form

pytestmark = pytest.mark.django_db

RESERVED = ["Content-Length", "transfer-encoding", "CONNECTION", "Host", "TE", "Upgrade", "Keep-Alive"]
RESERVED += ["Proxy-Connection", "Trailer"]


def _job(**request: object) -> dict:
    return {
        "naturalId": "bounded",
        "schedule": {"kind": "cron", "expression": "0 3 * * *"},
        "request": {"url": "https://x.test/", **request},
    }


def _refused(response, location: str) -> str:
    assert response.status_code == 400, response.content
    errors = {error["location"]: error["message"] for error in response.json()["errors"]}
    assert location in errors, errors
    return errors[location]


@pytest.mark.parametrize("name", RESERVED)
def test_framing_and_hop_by_hop_headers_are_refused_at_save(as_user, editor, name):
    payload = _job(headers={name: "5", "X-Fine": "1"})
    message = _refused(as_user(editor).post("/api/jobs", payload, format="json"), "body.request.headers")
    assert name in message
    assert not Job.objects.exists()


def test_smuggling_pair_is_refused_on_patch_and_in_steps(as_user, editor, job):
    headers = {"Content-Length": "5", "Transfer-Encoding": "chunked"}
    client = as_user(editor)
    _refused(
        client.patch(f"/api/jobs/{job.pk}", {"request": _job(headers=headers)["request"]}, format="json"),
        "body.request.headers",
    )
    steps = [
        {"name": "a", "config": {"url": "https://x.test/"}},
        {"name": "b", "config": {"url": "https://x.test/", "headers": headers}},
    ]
    _refused(client.patch(f"/api/jobs/{job.pk}", {"steps": steps}, format="json"), "body.steps[1].config.headers")
    assert job.steps.get().config["headers"] == {}


def test_steps_per_job_are_bounded(as_user, editor, settings):
    steps = [{"name": f"s{index}", "config": {"url": "https://x.test/"}} for index in range(21)]
    payload = {**_job(), "steps": steps}
    payload.pop("request")
    message = _refused(as_user(editor).post("/api/jobs", payload, format="json"), "body.steps")
    assert "At most 20 steps" in message
    settings.HOURGLASS_MAX_STEPS = 21
    assert as_user(editor).post("/api/jobs", payload, format="json").status_code == 201
    assert JobStep.objects.count() == 21


def test_headers_per_step_are_bounded(as_user, editor, settings):
    headers = {f"X-H{index}": "v" for index in range(51)}
    message = _refused(as_user(editor).post("/api/jobs", _job(headers=headers), format="json"), "body.request.headers")
    assert "At most 50 headers" in message
    settings.HOURGLASS_MAX_HEADERS = 51
    assert as_user(editor).post("/api/jobs", _job(headers=headers), format="json").status_code == 201


def test_the_request_body_is_bounded(as_user, editor, settings):
    body = "é" * (128 * 1024)  # 262,145 bytes as UTF-8 with the extra one below
    message = _refused(as_user(editor).post("/api/jobs", _job(body=body + "x"), format="json"), "body.request.body")
    assert "262145 bytes; at most 262144" in message
    assert as_user(editor).post("/api/jobs", _job(body=body), format="json").status_code == 201


def test_run_variables_are_bounded_on_a_manual_run_and_on_prunner(as_user, operator, job, settings):
    big = {"blob": "x" * (64 * 1024)}
    client = as_user(operator)
    message = _refused(client.post(f"/api/jobs/{job.pk}/run", {"variables": big}, format="json"), "body.variables")
    assert "at most 65536 are allowed" in message
    response = client.post("/pipelines/schedule", {"pipeline": job.natural_id, "variables": big}, format="json")
    assert response.status_code == 400
    assert "65536" in response.json()["error"]
    assert not Run.objects.exists()
    settings.HOURGLASS_MAX_RUN_VARIABLES_BYTES = 128 * 1024
    assert client.post(f"/api/jobs/{job.pk}/run", {"variables": big}, format="json").status_code == 202


def test_the_interval_has_a_minimum(as_user, editor, job, settings):
    client = as_user(editor)
    payload = {**_job(), "schedule": {"kind": "interval", "seconds": 9}}
    message = _refused(client.post("/api/jobs", payload, format="json"), "body.schedule.seconds")
    assert "at least 10 seconds" in message
    _refused(
        client.patch(f"/api/jobs/{job.pk}", {"schedule": {"kind": "interval", "seconds": 1}}, format="json"),
        "body.schedule.seconds",
    )
    assert (
        client.post(
            "/api/jobs", {**payload, "schedule": {"kind": "interval", "seconds": 10}}, format="json"
        ).status_code
        == 201
    )
    settings.HOURGLASS_MIN_INTERVAL_SECONDS = 1
    assert (
        client.patch(f"/api/jobs/{job.pk}", {"schedule": {"kind": "interval", "seconds": 1}}, format="json").status_code
        == 200
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"steps-0-headers": "Content-Length: 5\nTransfer-Encoding: chunked"}, "is set by Hourglass"),
        ({"schedule_kind": "interval", "interval_seconds": 5}, "at least 10 seconds"),
        ({"steps-0-body": "x" * (256 * 1024 + 1)}, "at most 262144 are allowed"),
    ],
)
def test_the_dashboard_form_applies_the_same_rules(client, editor, fields, message):
    client.force_login(editor)
    response = client.post(reverse("jobs:create"), job_form(**fields))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Job.objects.exists()
