"""Team admins create keys through the API (shown once), list and revoke them."""

from __future__ import annotations

import pytest

from jobs.models import ApiKey

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_key_that_works(api, as_user, owner, job):
    response = as_user(owner).post(
        "/api/teams/acme/keys", {"name": "ci", "scopes": ["job:read", "cron:write"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["scopes"] == ["job:read", "job:edit"]
    assert (body["name"], body["createdBy"], body["ownerId"]) == ("ci", "alice", "team:acme")
    raw = body["key"]
    assert raw.startswith(f"hg_{body['prefix']}_")
    listed = as_user(owner).get("/api/teams/acme/keys").json()["keys"]
    assert "key" not in listed[0]  # shown once
    assert raw not in str(listed)
    api.logout()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get(f"/api/jobs/{job.pk}").status_code == 200


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 403), ("editor", 403), ("owner", 201)])
def test_creating_keys_needs_team_admin(request, as_user, team, role, status):
    client = as_user(request.getfixturevalue(role))
    assert (
        client.post("/api/teams/acme/keys", {"name": "k", "scopes": ["job:read"]}, format="json").status_code == status
    )
    assert client.get("/api/teams/acme/keys").status_code == (200 if status == 201 else 403)


def test_outsiders_get_404(as_user, outsider, team, make_key):
    make_key(["job:read"])
    client = as_user(outsider)
    assert client.get("/api/teams/acme/keys").status_code == 404
    assert client.post("/api/teams/acme/keys", {"name": "k", "scopes": ["job:read"]}, format="json").status_code == 404
    prefix = ApiKey.objects.get().prefix
    assert client.delete(f"/api/teams/acme/keys/{prefix}").status_code == 404
    assert ApiKey.objects.get().revoked_at is None


def test_a_key_with_team_admin_cannot_mint_a_wider_key(as_key, owner):
    client = as_key(["team:admin", "job:read"], created_by=owner)
    response = client.post("/api/teams/acme/keys", {"name": "k", "scopes": ["job:edit"]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["location"] == "body.scopes"
    assert client.post("/api/teams/acme/keys", {"name": "k", "scopes": ["cron:read"]}, format="json").status_code == 201


def test_bad_scopes_and_expiry_are_400(as_user, owner):
    client = as_user(owner)
    assert client.post("/api/teams/acme/keys", {"name": "k", "scopes": ["root"]}, format="json").status_code == 400
    assert client.post("/api/teams/acme/keys", {"name": "k", "scopes": []}, format="json").status_code == 400
    response = client.post(
        "/api/teams/acme/keys",
        {"name": "k", "scopes": ["job:read"], "expiresAt": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["location"] == "body.expiresAt"
    assert not ApiKey.objects.exists()


def test_revoking_a_key_makes_it_401(api, as_user, owner, make_key, job):
    raw = make_key(["job:read"])
    prefix = ApiKey.objects.get().prefix
    assert as_user(owner).delete(f"/api/teams/acme/keys/{prefix}").status_code == 204
    assert as_user(owner).get("/api/teams/acme/keys").json()["keys"][0]["revokedAt"] is not None
    api.logout()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/jobs").status_code == 401


def test_revoking_an_unknown_key_is_404(as_user, owner, team):
    assert as_user(owner).delete("/api/teams/acme/keys/nope").status_code == 404
