"""Every jobs endpoint × role (outsider 404, too low 403, enough 2xx) × session and key."""

from __future__ import annotations

import pytest

from jobs.models import Job

pytestmark = pytest.mark.django_db

NEW_JOB = {
    "naturalId": "created",
    "schedule": {"kind": "interval", "seconds": 60},
    "request": {"url": "https://example.com/"},
}
# (method, path, body, permission, success status); {job} is the natural ID
ENDPOINTS = [
    ("get", "/api/jobs/{job}", None, "job:read", 200),
    ("get", "/api/jobs/{job}/fire-times", None, "job:read", 200),
    ("get", "/api/jobs/{job}/stats?window=7d", None, "job:read", 200),
    ("patch", "/api/jobs/{job}", {"name": "Renamed"}, "job:edit", 200),
    ("post", "/api/jobs/{job}/pause", {}, "job:edit", 200),
    ("post", "/api/jobs/{job}/resume", {}, "job:edit", 200),
    ("post", "/api/jobs/{job}/run", {"variables": {"a": "1"}}, "job:run", 202),
    ("delete", "/api/jobs/{job}", None, "job:edit", 204),
]
ROLE_PERMISSIONS = {
    "viewer": {"job:read"},
    "operator": {"job:read", "job:run"},
    "editor": {"job:read", "job:run", "job:edit"},
    "owner": {"job:read", "job:run", "job:edit", "team:admin"},
}


def _call(client, method: str, path: str, body, job: Job):
    path = path.format(job=job.natural_id)
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize(("method", "path", "body", "permission", "ok"), ENDPOINTS)
@pytest.mark.parametrize("role", ["viewer", "operator", "editor", "owner"])
def test_session_roles(request, as_user, job, role, method, path, body, permission, ok):
    response = _call(as_user(request.getfixturevalue(role)), method, path, body, job)
    assert response.status_code == (ok if permission in ROLE_PERMISSIONS[role] else 403), response.content


@pytest.mark.parametrize(("method", "path", "body", "permission", "ok"), ENDPOINTS)
def test_outsiders_get_404(as_user, outsider, job, method, path, body, permission, ok):
    assert _call(as_user(outsider), method, path, body, job).status_code == 404
    assert Job.objects.filter(pk=job.pk, name="Nightly report", enabled=True).exists()


@pytest.mark.parametrize(("method", "path", "body", "permission", "ok"), ENDPOINTS)
def test_keys_need_the_scope(as_key, job, method, path, body, permission, ok):
    others = [p for p in ("job:read", "job:run", "job:edit") if p != permission]
    assert _call(as_key(others), method, path, body, job).status_code == 403
    assert _call(as_key([permission]), method, path, body, job).status_code == ok


@pytest.mark.parametrize(("method", "path", "body", "permission", "ok"), ENDPOINTS)
def test_no_credentials_get_401(api, job, method, path, body, permission, ok):
    assert _call(api, method, path, body, job).status_code == 401


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 403), ("editor", 201), ("owner", 201)])
def test_create_needs_job_edit(request, as_user, team, role, status):
    response = as_user(request.getfixturevalue(role)).post("/api/jobs", NEW_JOB, format="json")
    assert response.status_code == status, response.content
    assert Job.objects.filter(natural_id="created").exists() is (status == 201)


def test_create_in_a_team_you_are_not_in_is_404(as_user, outsider, team):
    response = as_user(outsider).post("/api/jobs", {**NEW_JOB, "team": team.slug}, format="json")
    assert response.status_code == 404
    assert not Job.objects.exists()


def test_create_with_keys(as_key, team, other_team):
    assert as_key(["job:read"]).post("/api/jobs", NEW_JOB, format="json").status_code == 403
    response = as_key(["cron:write"]).post("/api/jobs", NEW_JOB, format="json")
    assert response.status_code == 201
    assert response.json()["ownerId"] == "team:acme"
    response = as_key(["job:edit"]).post("/api/jobs", {**NEW_JOB, "team": other_team.slug}, format="json")
    assert response.status_code == 404


def test_list_shows_only_readable_teams(as_user, as_key, viewer, outsider, job, other_team):
    from tests.factories import JobFactory

    JobFactory(team=other_team, natural_id="theirs")
    assert [j["naturalId"] for j in as_user(viewer).get("/api/jobs").json()["_embedded"]["inf:job"]] == [
        "nightly-report"
    ]
    assert [j["naturalId"] for j in as_user(outsider).get("/api/jobs").json()["_embedded"]["inf:job"]] == ["theirs"]
    assert as_key(["job:run"]).get("/api/jobs").status_code == 403
