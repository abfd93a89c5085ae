"""A NUL or a lone UTF-16 surrogate in any text input, name or value, is refused on every surface; nothing changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from history.models import Run
from jobs.models import ApiKey, AuditEntry, Job, Team
from tests.api_support import make_runs
from tests.jobs.dashboard.forms_support import job_form

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
# Raw JSON escapes: "\ud800" is how a client sends a lone surrogate (no encoder would produce one).
SURROGATE = "\\ud800"
NUL = "\\u0000"
MARK = "@BAD@"  # where the bad character goes in a body


def _job(**extra: object) -> dict:
    request = {"url": "https://x.test/", **extra.pop("request", {})}  # type: ignore[dict-item]
    return {"naturalId": "fresh", "schedule": {"kind": "cron", "expression": "0 3 * * *"}, "request": request, **extra}


def _raw(body: dict, bad: str) -> str:
    return json.dumps(body).replace(MARK, bad)


def _state(job: Job) -> tuple:
    return (
        list(Job.objects.values()),
        list(job.steps.values()),
        Run.objects.count(),
        AuditEntry.objects.count(),
        ApiKey.objects.count(),
    )


@pytest.mark.parametrize("bad", [SURROGATE, NUL])
@pytest.mark.parametrize(
    ("method", "path", "body", "location"),
    [
        ("post", "/api/jobs", _job(name=f"a{MARK}"), "body.name"),
        ("post", "/api/jobs", _job(description=MARK), "body.description"),
        ("post", "/api/jobs", _job(request={"headers": {"X-A": f"v{MARK}"}}), "body.request.headers.X-A"),
        ("post", "/api/jobs", _job(request={"headers": {f"X-{MARK}": "v"}}), "body.request.headers"),
        ("post", "/api/jobs", _job(secretHeaders=[f"X-{MARK}"]), "body.secretHeaders[0]"),
        ("post", "/api/jobs", _job(variables={f"k{MARK}": 1}), "body.variables"),
        ("patch", "/api/jobs/{job}", {"name": MARK}, "body.name"),
        ("patch", "/api/jobs/{job}", {"variables": {"a": [MARK]}}, "body.variables.a[0]"),
        ("post", "/api/jobs/{job}/run", {"variables": {"x": MARK}}, "body.variables.x"),
        ("post", "/api/jobs/{job}/run", {"variables": {f"x{MARK}": "1"}}, "body.variables"),
        ("post", "/api/jobs/{job}/history/delete", {"q": MARK}, "body.q"),
        ("post", "/api/teams/acme/keys", {"name": f"k{MARK}", "scopes": ["job:read"]}, "body.name"),
    ],
)
def test_api_bodies_are_refused_with_the_location(as_user, owner, job, method, path, body, location, bad):
    make_runs(job, 2)
    before = _state(job)
    client = as_user(owner)
    response = getattr(client, method)(path.format(job=job.pk), _raw(body, bad), content_type="application/json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert location in [error["location"] for error in response.json()["errors"]]
    assert _state(job) == before


@pytest.mark.parametrize("content_type", ["multipart/form-data", "application/x-www-form-urlencoded"])
def test_form_bodies_to_the_api_are_checked_too(as_user, owner, content_type):
    client = as_user(owner)
    if content_type == "multipart/form-data":
        response = client.post("/api/teams/acme/keys", {"name": "k\x00", "scopes": "job:read"})
    else:
        response = client.post("/api/teams/acme/keys", "name=k%00&scopes=job:read", content_type=content_type)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["location"] == "body.name"
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("bad", [SURROGATE, NUL])
@pytest.mark.parametrize("variables", [{"x": MARK}, {f"x{MARK}": 1}, {"a": {"b": [MARK]}}])
def test_prunner_schedule_refuses_them_in_its_own_error_shape(as_user, operator, job, bad, variables):
    body = _raw({"pipeline": "nightly-report", "variables": variables}, bad)
    response = as_user(operator).post("/pipelines/schedule", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert "body.variables" in response.json()["error"]
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/api/jobs?q=a%00", "problem"),
        ("/api/jobs/{job}/history?q=%00", "problem"),
        ("/api/jobs/{job}/history?bogus%00=1", "problem"),
        ("/api/history?endReason=%00", "problem"),
        ("/api/jobs/{job}/history/export?q=%00", "problem"),
        ("/api/audit?actor=%00", "problem"),
        ("/v1/projects/acme/jobs/{job}/runs?cursor=%00", "problem"),
        ("/api/v1/cron/jobs/{job}/executions?limit=1%00", "problem"),
        ("/api/tasks/nightly-report/runs?search=%00", "problem"),
        ("/job/detail?id=%00", "prunner"),
        ("/?q=%00", "plain"),
        ("/jobs/{job}/?q=%00", "plain"),
        ("/admin/jobs/job/?q=%00", "plain"),
    ],
)
def test_query_strings_are_refused_on_every_surface(as_user, owner, job, path, shape):
    owner.is_staff = owner.is_superuser = True
    owner.save()
    response = as_user(owner).get(path.format(job=job.pk))
    assert response.status_code == 400, response.content
    if shape == "problem":
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["errors"][0]["location"].startswith("query")
    elif shape == "prunner":
        assert response.json()["error"].startswith("query.id: ")
    else:
        assert "NUL character" in response.content.decode()


def test_the_browsable_api_answers_with_its_page(as_user, owner):
    response = as_user(owner).get("/api/jobs?q=%00", HTTP_ACCEPT="text/html")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "NUL character" in response.content.decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("variables", '{"x": "\\ud800"}'),
        ("variables", '{"x\\u0000": 1}'),
        ("name", "a\x00b"),
        ("steps-0-headers", "X-A: a\x00b"),
    ],
)
def test_the_dashboard_form_shows_the_error_and_saves_nothing(as_user, editor, team, field, value):
    response = as_user(editor).post("/jobs/new/", job_form(**{field: value}))
    assert response.status_code == 400
    page = response.content.decode()
    assert "NUL character" in page or "lone UTF-16 surrogate" in page or "Null characters" in page
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("createteam", ["team\udcff"]),
        ("createteam", ["analytics", "--name", "A\udcff"]),
        ("addmember", ["acme", "dana\udcff", "--role", "viewer"]),
        ("createapikey", ["acme", "--name", "ci\udcff", "--scopes", "job:read"]),
        ("prune", ["--job", "x\udcff"]),
    ],
)
def test_commands_refuse_them_before_doing_anything(team, command, args):
    before = (Team.objects.count(), ApiKey.objects.count(), AuditEntry.objects.count())
    with pytest.raises(CommandError, match="lone UTF-16 surrogate"):
        call_command(command, *args)
    assert (Team.objects.count(), ApiKey.objects.count(), AuditEntry.objects.count()) == before


def test_addmember_refuses_a_password_that_is_not_text(team, monkeypatch):
    monkeypatch.setenv("HOURGLASS_PASSWORD", "pass\udcff")
    with pytest.raises(CommandError, match="HOURGLASS_PASSWORD"):
        call_command("addmember", "acme", "dana", "--role", "viewer")


def test_the_cli_exits_non_zero_with_one_line():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    # Bytes that are not UTF-8 on the command line arrive in Python as lone surrogates.
    command = [sys.executable.encode(), b"manage.py", b"createteam", b"team\xff"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=60, check=False)
    assert result.returncode != 0
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    assert len(lines) == 1, lines
    assert "slug: The text holds a lone UTF-16 surrogate (U+DCFF)" in lines[0]
