"""Every error on an API path is problem+json (prunner's `{"error"}` on its paths), with DEBUG on or off:
unknown paths, a bad Host, failures outside the handler, numeric overflow and deep nesting."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from config.problems import API_PREFIXES, PRUNNER_PREFIXES
from history.models import Run
from jobs.api.views import JobViewSet
from jobs.models import Job
from tests.jobs.dashboard.test_job_form import CREATE, _field_errors, _form

pytestmark = pytest.mark.django_db

DEBUG_PAGE_MARKERS = ("Traceback", "technical", "Django tried these URL patterns", "DEBUG = True", "<html")
JOB = {"naturalId": "deep", "schedule": {"kind": "interval", "seconds": 60}, "request": {"url": "https://x.test/"}}


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def _problem(response, status: int) -> dict:
    text = response.content.decode(errors="replace")
    assert response.status_code == status, text[:300]
    assert response["Content-Type"] == "application/problem+json", text[:300]
    assert not any(marker in text for marker in DEBUG_PAGE_MARKERS), text[:300]
    body = response.json()
    assert (body["status"], body["type"]) == (status, "about:blank")
    return body


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings) -> bool:
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize(
    "path",
    [
        "/api/nope",
        "/api/jobs/nightly-report/nope",
        "/api/teams/not.a.slug/keys",
        "/api/teams/not%20a%20slug/keys/abc",
        "/api/v1/cron/nope",
        "/api/tasks/heartbeat/nope",
        "/v1/projects/acme/nope",
    ],
)
def test_unknown_api_paths_answer_404_problem_json(as_key, job, debug, path):
    body = _problem(as_key("job:read").get(path), 404)
    assert body["instance"] == path


@pytest.mark.parametrize("path", ["/job/nope", "/pipelines/nope"])
def test_unknown_prunner_paths_answer_in_prunners_shape(as_key, job, debug, path):
    response = as_key("job:read").get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "No such resource."}


def test_a_bad_host_header_answers_400_problem_json_not_a_debug_page(as_key, job, debug):
    _problem(as_key("job:read").get("/api/jobs", HTTP_HOST="attacker.example"), 400)


def test_an_unhandled_error_is_a_problem_json_500_with_the_traceback_logged(as_key, job, debug, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug standing in for any unforeseen failure")

    monkeypatch.setattr(JobViewSet, "index", broken)
    client = as_key("job:read")
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="config.problems"):
        body = _problem(client.get("/api/jobs"), 500)

    assert body["detail"] == "The server failed to handle this request."
    assert "a bug standing in" not in str(body)
    assert any(record.exc_info and "a bug standing in" in str(record.exc_info[1]) for record in caplog.records)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1E999"])
def test_numeric_overflow_is_a_400_and_creates_nothing(as_user, editor, debug, number):
    for body in (
        '{"naturalId": "x", "schedule": {"kind": "interval", "seconds": %s}, "request": {"url": "https://x.test/"}}',
        '{"naturalId": "x", "schedule": {"kind": "interval", "seconds": 60}, "request": {"url": "https://x.test/"},'
        ' "variables": {"big": %s}}',
    ):
        response = as_user(editor).post("/api/jobs", body % number, content_type="application/json")
        assert "out of range" in _problem(response, 400)["detail"]
    assert not Job.objects.exists()


def test_deep_nesting_is_a_400_and_creates_nothing(as_user, editor, debug):
    body = '{"naturalId": "deep", "variables": {"a": ' + _nested(10_000) + "}}"

    detail = _problem(as_user(editor).post("/api/jobs", body, content_type="application/json"), 400)["detail"]

    assert "nested deeper than 32 levels" in detail
    assert not Job.objects.exists()


def test_nesting_within_the_bound_is_accepted(as_user, editor):
    variables = {"a": json.loads(_nested(25))}
    response = as_user(editor).post("/api/jobs", {**JOB, "variables": variables}, format="json")

    assert response.status_code == 201, response.content


def test_prunner_answers_overflow_and_nesting_in_its_shape(as_key, job, debug):
    client = as_key("job:run")
    for variables in ("1e400", _nested(10_000)):
        body = '{"pipeline": "nightly-report", "variables": {"x": ' + variables + "}}"
        response = client.post("/pipelines/schedule", body, content_type="application/json")
        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"].startswith("JSON parse error - ")
    assert not Run.objects.exists()


def test_the_dashboard_form_refuses_deep_variables_on_the_field(client: Client, editor):
    client.force_login(editor)
    response = client.post(CREATE, _form(variables='{"a": ' + _nested(10_000) + "}"))

    assert response.status_code == 400
    assert "Enter a valid JSON." in _field_errors(response.content.decode(), "id_variables")
    assert not Job.objects.exists()


def _routes(resolver: URLResolver, prefix: str = "/", namespace: str = "") -> list[tuple[str, str, URLPattern]]:
    """(full path, namespace, pattern) for every route below `resolver`."""
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            found += _routes(entry, prefix + str(entry.pattern), entry.namespace or namespace)
        else:
            found.append((prefix + str(entry.pattern), namespace, entry))
    return found


def test_every_api_and_dialect_route_is_under_an_api_prefix():
    routes = [(path, pattern) for path, space, pattern in _routes(get_resolver()) if space in ("api", "dialects")]
    assert len(routes) > 20
    for path, pattern in routes:
        assert path.startswith(API_PREFIXES), path
        is_prunner = pattern.name.startswith("prunner-")
        assert path.startswith(PRUNNER_PREFIXES) == is_prunner, path
