"""Inputs that used to be accepted and then did nothing (or not what was meant) are refused with a clear error:
a one-off in the past, a zone that is not a place, a backwards cron range, an empty filter, a garbled cursor."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from tests.api_support import make_runs
from tests.jobs.dashboard.forms_support import job_form

pytestmark = pytest.mark.django_db


def _create(client, schedule: dict):
    payload = {"naturalId": "strict", "schedule": schedule, "request": {"url": "https://x.test/"}}
    return client.post("/api/jobs", payload, format="json")


def _error(response, location: str) -> str:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    errors = {error["location"]: error["message"] for error in response.json()["errors"]}
    assert location in errors, errors
    return errors[location]


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "2020-05-01T12:00:00Z", "now"])
def test_a_one_off_in_the_past_is_refused(as_user, editor, at):
    if at == "now":
        at = (timezone.now() - timedelta(seconds=1)).isoformat()
    message = _error(_create(as_user(editor), {"kind": "once", "at": at}), "body.schedule.at")
    assert "in the past" in message or "out of range" in message
    assert not Job.objects.exists()


def test_a_one_off_in_the_future_is_fine(as_user, editor):
    at = (timezone.now() + timedelta(hours=1)).isoformat()
    assert _create(as_user(editor), {"kind": "once", "at": at}).status_code == 201


@pytest.mark.parametrize("zone", ["UTC ", " Europe/Berlin", "localtime", "Factory", "right/UTC", "posix/Europe/Berlin"])
def test_only_canonical_zone_names_are_accepted(as_user, editor, job, zone):
    client = as_user(editor)
    schedule = {"kind": "cron", "expression": "0 3 * * *", "timezone": zone}
    assert "Unknown timezone" in _error(_create(client, schedule), "body.schedule.timezone")
    _error(client.patch(f"/api/jobs/{job.pk}", {"schedule": schedule}, format="json"), "body.schedule.timezone")
    assert Job.objects.get(pk=job.pk).timezone == "UTC"


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_zone_names_of_places_are_accepted(as_user, editor, zone):
    assert _create(as_user(editor), {"kind": "cron", "expression": "0 3 * * *", "timezone": zone}).status_code == 201


@pytest.mark.parametrize(
    "expression", ["5-1 * * * *", "0 23-1 * * *", "0 0 * dec-jan *", "0 0 * * fri-mon", "1-0/5 * * * *"]
)
def test_a_backwards_cron_range_is_refused(as_user, editor, expression):
    message = _error(_create(as_user(editor), {"kind": "cron", "expression": expression}), "body.schedule.expression")
    assert "runs backwards" in message


@pytest.mark.parametrize("expression", ["1-5 * * * *", "0 9-17 * * mon-fri", "0 0 1 jan-mar *", "5-5 * * * *"])
def test_forward_ranges_are_fine(as_user, editor, expression):
    assert _create(as_user(editor), {"kind": "cron", "expression": expression}).status_code == 201


def test_the_dashboard_refuses_them_too(client, editor):
    client.force_login(editor)
    cases = [
        ({"cron_expression": "5-1 * * * *"}, "runs backwards"),
        ({"timezone": "posix/Europe/Berlin"}, "Unknown timezone"),
        ({"schedule_kind": "once", "run_at": "2020-01-01T10:00"}, "in the past"),
    ]
    for fields, message in cases:
        response = client.post(reverse("jobs:create"), job_form(**fields))
        assert response.status_code == 400
        assert message in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "name", ["httpStatus", "status", "endReason", "triggeredBy", "success", "createdAfter", "attempt"]
)
def test_an_empty_filter_is_a_400(as_user, viewer, job, name):
    client = as_user(viewer)
    for path in (f"/api/jobs/{job.pk}/history", "/api/history", f"/api/jobs/{job.pk}/history/export"):
        message = _error(client.get(f"{path}?{name}="), f"query.{name}")
        assert message == "Give a value, or leave the parameter out."


def test_empty_free_text_filters_are_still_fine(as_user, viewer, job):
    assert as_user(viewer).get("/api/history?q=&job=").status_code == 200


def _token(raw: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


GOOD = {"c": "2024-01-01T00:00:00+00:00", "i": "00000000-0000-0000-0000-000000000000", "o": 0}


@pytest.mark.parametrize(
    "cursor",
    [
        "bm90IGEgY3Vyc29y",  # base64 of "not a cursor"
        "eyJjIjoi",  # a real cursor's first bytes
        "A" * 501,
        _token([1, 2]),
        _token("text"),
        _token({**GOOD, "o": 1e400}),
        _token({**GOOD, "o": -1}),
        _token({**GOOD, "o": True}),
        _token({**GOOD, "o": 10**30}),
        _token({**GOOD, "c": 5}),
        _token({**GOOD, "c": "0001-01-01T00:00:00+01:00"}),
        _token({**GOOD, "i": "nope"}),
        base64.urlsafe_b64encode(b"[" * 100_000).decode(),
    ],
)
def test_a_garbled_cursor_is_a_400_problem(as_user, viewer, job, cursor):
    make_runs(job, 2)
    client = as_user(viewer)
    for path in (f"/api/jobs/{job.pk}/history", "/api/history", f"/v1/projects/acme/jobs/{job.pk}/runs"):
        _error(client.get(f"{path}?cursor={cursor}"), "query.cursor")


def test_the_schema_documents_the_cursor_and_its_400(as_user, viewer):
    schema = as_user(viewer).get("/api/schema/?format=json").json()
    for path in ("/api/jobs/{id}/history", "/api/history", "/v1/projects/{projectId}/jobs/{jobId}/runs"):
        operation = schema["paths"][path]["get"]
        (cursor,) = [param for param in operation["parameters"] if param["name"] == "cursor"]
        assert cursor["schema"]["pattern"] == "^[A-Za-z0-9_-]+$"
        assert "cursor" in operation["responses"]["400"]["description"]
        assert "application/problem+json" in operation["responses"]["400"]["content"]
