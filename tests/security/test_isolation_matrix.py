"""Tenant isolation: every URL of the project, as every kind of caller, answers exactly as the table says.

The walk covers the API, the four peer dialects, the dashboard, the admin and the auth pages. A URL
pattern without an entry in MATRIX (or ADMIN_MODELS for the admin) fails the test, so a new view
cannot ship without a decision about who may reach it.

Callers: anonymous; an outsider (admin of another team); each role of team A; and keys of team A
with each scope (made by its admin). Each request acts on fresh objects of team A (a job, an ended
run, a key), so destructive requests by one caller do not change what the next one sees.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from jobs.services import apikey_create
from tests.api.conftest import make_runs
from tests.factories import JobFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

ACTORS = ("anon", "outsider", "viewer", "operator", "editor", "admin", "k:read", "k:run", "k:edit", "k:admin")
ROLE_OF = {"viewer": "viewer", "operator": "operator", "editor": "editor", "admin": "admin"}
SCOPE_OF = {"k:read": "job:read", "k:run": "job:run", "k:edit": "job:edit", "k:admin": "team:admin"}


def row(*statuses: int) -> dict[str, int]:
    assert len(statuses) == len(ACTORS)
    return dict(zip(ACTORS, statuses, strict=True))


# Expected status per caller, in ACTORS order:
#   anon, outsider (admin of another team), viewer, operator, editor, admin,
#   then keys with job:read, job:run, job:edit, team:admin
# Keys are not sessions: the dashboard treats them as anonymous (302 to the login page). A key's scope is
# exactly what it may do (job:run alone does not read). Lists and "current team" pages answer an outsider
# with its own team's data, never team A's (see test_outsider_never_sees_team_a).
PUBLIC = {actor: 200 for actor in ACTORS}

# route name -> (method, path (with {job}, {run}, {team}, {key}, {key_id} filled in), body, expected)
MATRIX: dict[str, tuple[str, str, Any, dict[str, int]]] = {
    # Auth pages
    "login": ("get", "/accounts/login/", None, row(200, 302, 302, 302, 302, 302, 200, 200, 200, 200)),
    "logout": ("post-form", "/accounts/logout/", {}, row(302, 302, 302, 302, 302, 302, 302, 302, 302, 302)),
    "rest_framework:login": ("get", "/api-auth/login/", None, row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "admin-login": ("get", "/admin/login/", None, row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "rest_framework:logout": (
        "post-form",
        "/api-auth/logout/",
        {},
        row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ),
    # Operability: no team data. /healthz is 200 or 503 by the broker's and beat's state; /metrics admits
    # loopback and private clients (the test client is 127.0.0.1) or a token.
    "healthz": ("get", "/healthz", None, {actor: (200, 503) for actor in ACTORS}),
    "metrics": ("get", "/metrics", None, PUBLIC),
    "echo": ("get", "/echo/", None, row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    # Dashboard: jobs and team
    "jobs:list": ("get", "/", None, row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302)),
    "jobs:create": ("get", "/jobs/new/", None, row(302, 200, 403, 403, 200, 200, 302, 302, 302, 302)),
    "jobs:schedule-preview": (
        "get",
        "/jobs/preview/?kind=cron&expression=*+*+*+*+*",
        None,
        row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302),
    ),
    "jobs:detail": ("get", "/jobs/{job}/", None, row(302, 404, 200, 200, 200, 200, 302, 302, 302, 302)),
    "jobs:edit": ("get", "/jobs/{job}/edit/", None, row(302, 404, 403, 403, 200, 200, 302, 302, 302, 302)),
    "jobs:run-now": ("post-form", "/jobs/{job}/run/", {}, row(302, 404, 403, 302, 302, 302, 302, 302, 302, 302)),
    "jobs:pause": ("post-form", "/jobs/{job}/pause/", {}, row(302, 404, 403, 403, 302, 302, 302, 302, 302, 302)),
    "jobs:resume": ("post-form", "/jobs/{job}/resume/", {}, row(302, 404, 403, 403, 302, 302, 302, 302, 302, 302)),
    "jobs:delete": ("post-form", "/jobs/{job}/delete/", {}, row(302, 404, 403, 403, 302, 302, 302, 302, 302, 302)),
    "jobs:team": ("get", "/team/", None, row(302, 200, 403, 403, 403, 200, 302, 302, 302, 302)),
    "jobs:team-switch": (
        "post-form",
        "/team/switch/",
        {"team": "{team}"},
        row(302, 404, 302, 302, 302, 302, 302, 302, 302, 302),
    ),
    "jobs:apikey-create": (
        "post-form",
        "/team/keys/",
        {"name": "x", "scopes": ["job:read"]},
        row(302, 302, 403, 403, 403, 302, 302, 302, 302, 302),
    ),
    "jobs:apikey-revoke": (
        "post-form",
        "/team/keys/{key_id}/revoke/",
        {},
        row(302, 404, 403, 403, 403, 302, 302, 302, 302, 302),
    ),
    "jobs:audit": ("get", "/team/audit/", None, row(302, 200, 403, 403, 403, 200, 302, 302, 302, 302)),
    # Dashboard: runs
    "history:job-runs-new": (
        "get",
        "/jobs/{job}/runs/new/",
        None,
        row(302, 404, 400, 400, 400, 400, 302, 302, 302, 302),
    ),
    "history:runs-delete": (
        "post-form",
        "/jobs/{job}/runs/delete/",
        {"run": ["{run}"]},
        row(302, 404, 403, 403, 200, 200, 302, 302, 302, 302),
    ),
    "history:run-detail": ("get", "/runs/{run}/", None, row(302, 404, 200, 200, 200, 200, 302, 302, 302, 302)),
    "history:run-live": ("get", "/runs/{run}/live/", None, row(302, 404, 200, 200, 200, 200, 302, 302, 302, 302)),
    "history:run-row": ("get", "/runs/{run}/row/", None, row(302, 404, 200, 200, 200, 200, 302, 302, 302, 302)),
    "history:run-cancel": (
        "post-form",
        "/runs/{run}/cancel/",
        {},
        row(302, 404, 403, 302, 302, 302, 302, 302, 302, 302),
    ),
    "history:run-rerun": ("post-form", "/runs/{run}/rerun/", {}, row(302, 404, 403, 302, 302, 302, 302, 302, 302, 302)),
    "history:run-delete": (
        "post-form",
        "/runs/{run}/delete/",
        {},
        row(302, 404, 403, 403, 302, 302, 302, 302, 302, 302),
    ),
    # Dialects
    "dialects:northflank-job-runs": (
        "get",
        "/v1/projects/{team}/jobs/{job}/runs",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "dialects:prunner-job-detail": (
        "get",
        "/job/detail?id={run}",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "dialects:prunner-job-cancel": (
        "post",
        "/job/cancel?id={run}",
        None,
        row(401, 404, 403, 409, 409, 409, 403, 409, 403, 403),
    ),
    "dialects:prunner-pipelines-schedule": (
        "post",
        "/pipelines/schedule",
        {"pipeline": "{job_name}"},
        row(401, 404, 403, 202, 202, 202, 403, 202, 403, 403),
    ),
    "dialects:krafter-executions": (
        "get",
        "/api/v1/cron/jobs/{job}/executions",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "dialects:runwisp-task-runs": (
        "get",
        "/api/tasks/{job_name}/runs",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    # Primary API
    "api:root": ("get", "/api/", None, row(401, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "api:schema": ("get", "/api/schema/", None, row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "api:docs": ("get", "/api/docs/", None, row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "api:job-list": ("get", "/api/jobs", None, row(401, 200, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:job-detail": ("get", "/api/jobs/{job}", None, row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:job-pause": ("post", "/api/jobs/{job}/pause", None, row(401, 404, 403, 403, 200, 200, 403, 403, 200, 403)),
    "api:job-resume": ("post", "/api/jobs/{job}/resume", None, row(401, 404, 403, 403, 200, 200, 403, 403, 200, 403)),
    "api:job-run": ("post", "/api/jobs/{job}/run", None, row(401, 404, 403, 202, 202, 202, 403, 202, 403, 403)),
    "api:job-fire-times": (
        "get",
        "/api/jobs/{job}/fire-times",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:job-stats": ("get", "/api/jobs/{job}/stats", None, row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:job-history": ("get", "/api/jobs/{job}/history", None, row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:job-history-export": (
        "get",
        "/api/jobs/{job}/history/export",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:job-history-delete": (
        "post",
        "/api/jobs/{job}/history/delete",
        {},
        row(401, 404, 403, 403, 200, 200, 403, 403, 200, 403),
    ),
    "api:job-history-detail": (
        "get",
        "/api/jobs/{job}/history/{run}",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:job-history-cancel": (
        "post",
        "/api/jobs/{job}/history/{run}/cancel",
        None,
        row(401, 404, 403, 409, 409, 409, 403, 409, 403, 403),
    ),
    "api:job-history-rerun": (
        "post",
        "/api/jobs/{job}/history/{run}/rerun",
        None,
        row(401, 404, 403, 202, 202, 202, 403, 202, 403, 403),
    ),
    "api:history": ("get", "/api/history", None, row(401, 200, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:team-keys": ("get", "/api/teams/{team}/keys", None, row(401, 404, 403, 403, 403, 200, 403, 403, 403, 200)),
    "api:team-key": (
        "delete",
        "/api/teams/{team}/keys/{key}",
        None,
        row(401, 404, 403, 403, 403, 204, 403, 403, 403, 204),
    ),
    "api:audit": ("get", "/api/audit", None, row(401, 200, 403, 403, 403, 200, 403, 403, 403, 200)),
}

# The admin: its site pages, and per registered model its standard views. A model registered without an
# entry here fails test_every_url_has_an_entry. Who may see which rows is checked in test_admin_isolation.
ADMIN_SITE = {
    "admin:index",
    "admin:login",
    "admin:logout",
    "admin:password_change",
    "admin:password_change_done",
    "admin:autocomplete",
    "admin:jsi18n",
    "admin:view_on_site",
    "admin:app_list",
    "admin:",  # the catch-all that sends unknown admin URLs to the login page or a 404
    "admin:auth_user_password_change",
}
ADMIN_MODELS = {
    "auth_group",
    "auth_user",
    "jobs_team",
    "jobs_membership",
    "jobs_apikey",
    "jobs_job",
    "jobs_auditentry",
    "history_run",
    # Beat's schedule tables (superusers only: no team role grants them).
    "django_celery_beat_clockedschedule",
    "django_celery_beat_crontabschedule",
    "django_celery_beat_intervalschedule",
    "django_celery_beat_periodictask",
    "django_celery_beat_solarschedule",
}
ADMIN_VIEWS = ("changelist", "add", "history", "delete", "change")


def walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
            found += walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            found.append((namespace + (pattern.name or ""), prefix + str(pattern.pattern)))
    return found


def test_every_url_has_an_entry():
    missing = []
    for name, route in walk(get_resolver().url_patterns):
        if name.startswith("admin:"):
            model_view = name.removeprefix("admin:").rsplit("_", 1)
            if name in ADMIN_SITE or (model_view[0] in ADMIN_MODELS and model_view[-1] in ADMIN_VIEWS):
                continue
            if route.endswith("<path:object_id>/"):
                continue  # the admin's redirect of a bare object URL to its change page
            missing.append(f"{name} ({route})")
        elif name not in MATRIX:
            missing.append(f"{name} ({route})")
    assert not missing, "URLs without an entry in the isolation matrix:\n" + "\n".join(missing)


@pytest.fixture
def world(db) -> dict[str, Any]:
    team = TeamFactory(slug="acme", name="Acme")
    other = TeamFactory(slug="globex", name="Globex")
    users = {
        actor: MembershipFactory(team=team, user=UserFactory(username=f"u-{actor}"), role=role).user
        for actor, role in ROLE_OF.items()
    }
    users["outsider"] = MembershipFactory(team=other, user=UserFactory(username="u-outsider"), role="admin").user
    keys = {}
    for actor, scope in SCOPE_OF.items():
        _, keys[actor] = apikey_create(team=team, name=actor, scopes=[scope], created_by=users["admin"])
    JobFactory(team=other, natural_id="theirs")
    return {"team": team, "users": users, "keys": keys}


def objects(world: dict[str, Any]) -> dict[str, str]:
    job = JobFactory(team=world["team"], natural_id=f"job-{uuid.uuid4().hex[:8]}")
    (run,) = make_runs(job, 1)
    key, _ = apikey_create(team=world["team"], name="victim", scopes=["job:read"])
    return {
        "job": str(job.pk),
        "job_name": job.natural_id,
        "run": str(run.pk),
        "team": "acme",
        "key": key.prefix,
        "key_id": str(key.pk),
    }


def client_for(world: dict[str, Any], actor: str) -> Client:
    client = Client()
    if actor in world["users"]:
        client.force_login(world["users"][actor])
    elif actor in world["keys"]:
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {world['keys'][actor]}"
    return client


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [fill(item, names) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, names) for key, item in value.items()}
    return value


def call(world: dict[str, Any], actor: str, method: str, path: str, body: Any) -> int:
    names = objects(world)
    filled, body = path.format(**names), fill(body, names)
    client = client_for(world, actor)
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"data": body, "content_type": "application/json"} if method != "post-form" else {"data": body}
    verb = "post" if method == "post-form" else method
    return getattr(client, verb)(filled, **kwargs).status_code


def test_matrix(world):
    wrong = []
    for name, route in walk(get_resolver().url_patterns):
        if name.startswith("admin:"):
            continue
        method, path, body, expected = MATRIX[name]
        observed = {actor: call(world, actor, method, path, body) for actor in ACTORS}
        if any(
            observed[actor] not in expected[actor]
            if isinstance(expected[actor], tuple)
            else observed[actor] != expected[actor]
            for actor in ACTORS
        ):
            diff = {
                actor: f"{expected[actor]}→{observed[actor]}" for actor in ACTORS if observed[actor] != expected[actor]
            }
            wrong.append(f"{name} ({route}): {diff}")
    assert not wrong, "\n".join(wrong)


def test_record(world):
    if not os.environ.get("MATRIX_RECORD"):
        pytest.skip("set MATRIX_RECORD=1 to print the observed table")
    for name, _route in walk(get_resolver().url_patterns):
        if name.startswith("admin:") or name not in MATRIX:
            continue
        method, path, body, _ = MATRIX[name]
        observed = [call(world, actor, method, path, body) for actor in ACTORS]
        print(f"{name:40} {observed}")


def test_admin_isolation(world):
    """Non-staff callers never reach the admin; a staff member of team B sees none of team A's rows."""
    names = objects(world)
    pages = [
        "/admin/",
        "/admin/jobs/job/",
        f"/admin/jobs/job/{names['job']}/change/",
        "/admin/history/run/",
        f"/admin/history/run/{names['run']}/change/",
        "/admin/jobs/auditentry/",
    ]
    for actor in ACTORS:
        for page in pages:
            assert call(world, actor, "get", page, None) == 302, (actor, page)
    staff = world["users"]["outsider"]
    staff.is_staff = True
    staff.save()
    client = client_for(world, "outsider")
    assert client.get("/admin/jobs/job/").status_code == 200
    assert names["job_name"] not in client.get("/admin/jobs/job/").content.decode()
    assert names["run"] not in client.get("/admin/history/run/").content.decode()
    audit_page = client.get("/admin/jobs/auditentry/").content.decode()
    assert "u-viewer" not in audit_page  # team A's member.add entries
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 403
    # Team A's objects by id: the admin answers "does not exist" (a redirect), never the page.
    assert client.get(f"/admin/jobs/job/{names['job']}/change/").status_code in (302, 403, 404)
    assert client.get(f"/admin/history/run/{names['run']}/change/").status_code in (302, 403, 404)


def test_outsider_never_sees_team_a(world):
    """Where an outsider gets 2xx (lists, its current-team pages), no id or name of team A's objects shows."""
    for name, (method, path, _body, expected) in MATRIX.items():
        if not isinstance(expected["outsider"], int) or expected["outsider"] >= 300 or method != "get":
            continue
        names = objects(world)
        content = client_for(world, "outsider").get(path.format(**names)).content.decode()
        for secret in (names["job"], names["job_name"], names["run"], names["key"]):
            assert secret not in content, (name, secret)
