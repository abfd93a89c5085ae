"""Every history endpoint × role (outsider 404, too low 403, enough 2xx) × session and key."""

from __future__ import annotations

import pytest

from history.models import Run
from tests.api_support import make_runs

pytestmark = pytest.mark.django_db

# (method, path template, permission needed, success status)
ENDPOINTS = [
    ("get", "/api/jobs/{job}/history", "job:read", 200),
    ("get", "/api/jobs/{job}/history/{run}", "job:read", 200),
    ("get", "/api/jobs/{job}/history/export", "job:read", 200),
    ("post", "/api/jobs/{job}/history/{run}/rerun", "job:run", 202),
    ("post", "/api/jobs/{job}/history/{pending}/cancel", "job:run", 200),
    ("delete", "/api/jobs/{job}/history/{run}", "job:edit", 204),
    ("post", "/api/jobs/{job}/history/delete", "job:edit", 200),
]
ROLE_PERMISSIONS = {
    "viewer": {"job:read"},
    "operator": {"job:read", "job:run"},
    "editor": {"job:read", "job:run", "job:edit"},
}


def _call(client, method: str, template: str, job, run, pending):
    path = template.format(job=job.natural_id, run=run.pk, pending=pending.pk)
    return getattr(client, method)(path, {}, format="json") if method != "get" else client.get(path)


@pytest.fixture
def runs(job):
    run = make_runs(job, 1)[0]
    pending = make_runs(job, 1, status=Run.Status.PENDING, end_reason="")[0]
    return run, pending


@pytest.mark.parametrize(("method", "template", "permission", "ok"), ENDPOINTS)
@pytest.mark.parametrize("role", ["viewer", "operator", "editor"])
def test_session_roles(request, as_user, job, runs, role, method, template, permission, ok):
    client = as_user(request.getfixturevalue(role))
    response = _call(client, method, template, job, *runs)
    expected = ok if permission in ROLE_PERMISSIONS[role] else 403
    assert response.status_code == expected, response.content


@pytest.mark.parametrize(("method", "template", "permission", "ok"), ENDPOINTS)
def test_outsiders_get_404(as_user, outsider, job, runs, method, template, permission, ok):
    response = _call(as_user(outsider), method, template, job, *runs)
    assert response.status_code == 404
    assert Run.objects.count() == 2


@pytest.mark.parametrize(("method", "template", "permission", "ok"), ENDPOINTS)
def test_keys_need_the_scope(as_key, job, runs, method, template, permission, ok):
    others = [p for p in ("job:read", "job:run", "job:edit") if p != permission]
    assert _call(as_key(others), method, template, job, *runs).status_code == 403
    assert _call(as_key([permission]), method, template, job, *runs).status_code == ok


@pytest.mark.parametrize(("method", "template", "permission", "ok"), ENDPOINTS)
def test_another_teams_key_gets_404(as_key, other_team, job, runs, method, template, permission, ok):
    client = as_key(["job:read", "job:run", "job:edit"], on=other_team)
    assert _call(client, method, template, job, *runs).status_code == 404


@pytest.mark.parametrize(("method", "template", "permission", "ok"), ENDPOINTS)
def test_no_credentials_get_401(api, job, runs, method, template, permission, ok):
    response = _call(api, method, template, job, *runs)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_global_history_roles(as_user, as_key, outsider, viewer, job, runs):
    assert as_user(viewer).get("/api/history").json()["total"] == 2
    assert as_user(outsider).get("/api/history").json()["total"] == 0
    assert as_key(["job:run"]).get("/api/history").status_code == 403
    assert as_key(["cron:read"]).get("/api/history").json()["total"] == 2
