"""Every dialect endpoint × outsider 404 / too low 403 / enough 2xx × session and key, and no credentials 401.

The decisions are the primary API's; only the error body is the dialect's own.
"""

from __future__ import annotations

import pytest

from history.models import Run
from tests.api_support import make_runs
from tests.history.dialects.conftest import prunner_schema, runwisp_schema, validate

pytestmark = pytest.mark.django_db

# (dialect, method, path template, body, permission needed, success status)
ENDPOINTS = [
    ("northflank", "get", "/v1/projects/{team}/jobs/{job}/runs", None, "job:read", 200),
    ("prunner", "get", "/job/detail?id={run}", None, "job:read", 200),
    ("prunner", "post", "/job/cancel?id={pending}", None, "job:run", 200),
    ("prunner", "post", "/pipelines/schedule", {"pipeline": "{job}"}, "job:run", 202),
    ("krafter", "get", "/api/v1/cron/jobs/{job}/executions", None, "job:read", 200),
    ("runwisp", "get", "/api/tasks/{job}/runs", None, "job:read", 200),
]
IDS = [f"{method} {path.split('?')[0]}" for _, method, path, *_ in ENDPOINTS]
ROLE_PERMISSIONS = {"viewer": {"job:read"}, "operator": {"job:read", "job:run"}}


@pytest.fixture
def runs(job):
    return make_runs(job, 1)[0], make_runs(job, 1, status=Run.Status.PENDING, end_reason="")[0]


def _call(client, endpoint, job, runs):
    _, method, template, body, _, _ = endpoint
    values = {"team": job.team.slug, "job": job.natural_id, "run": runs[0].pk, "pending": runs[1].pk}
    path = template.format(**values)
    if body is None:
        return getattr(client, method)(path)
    return client.post(path, {name: value.format(**values) for name, value in body.items()}, format="json")


def assert_dialect_error(dialect: str, response, status: int) -> None:
    """The status the primary API decides, in the body shape the dialect documents."""
    assert response.status_code == status, response.content
    body = response.json()
    if dialect == "prunner":
        assert response["Content-Type"] == "application/json"
        validate(body, prunner_schema("genericErrorResponse"))
        assert list(body) == ["error"]
        return
    assert response["Content-Type"] == "application/problem+json"
    assert (body["status"], body["type"]) == (status, "about:blank")
    if dialect == "runwisp":
        validate(body, runwisp_schema("ErrorModel"))
    else:
        assert {"title", "detail", "instance"} <= set(body)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_session_roles(request, as_user, job, runs, role, endpoint):
    response = _call(as_user(request.getfixturevalue(role)), endpoint, job, runs)
    if endpoint[4] in ROLE_PERMISSIONS[role]:
        assert response.status_code == endpoint[5], response.content
    else:
        assert_dialect_error(endpoint[0], response, 403)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_outsiders_get_404(as_user, outsider, job, runs, endpoint):
    assert_dialect_error(endpoint[0], _call(as_user(outsider), endpoint, job, runs), 404)
    assert Run.objects.count() == 2
    assert Run.objects.get(pk=runs[1].pk).status == Run.Status.PENDING


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_keys_need_the_scope(as_key, job, runs, endpoint):
    others = [p for p in ("job:read", "job:run", "job:edit") if p != endpoint[4]]
    assert_dialect_error(endpoint[0], _call(as_key(others), endpoint, job, runs), 403)
    assert _call(as_key([endpoint[4]]), endpoint, job, runs).status_code == endpoint[5]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_another_teams_key_gets_404(as_key, other_team, job, runs, endpoint):
    client = as_key(["job:read", "job:run", "job:edit"], on=other_team)
    assert_dialect_error(endpoint[0], _call(client, endpoint, job, runs), 404)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_no_credentials_get_401(api, job, runs, endpoint):
    response = _call(api, endpoint, job, runs)
    assert_dialect_error(endpoint[0], response, 401)
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_bad_key_gets_401(api, job, runs, endpoint):
    api.credentials(HTTP_AUTHORIZATION="Bearer hg_000000000000_nope")
    assert_dialect_error(endpoint[0], _call(api, endpoint, job, runs), 401)
