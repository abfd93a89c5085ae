"""GET /api/teams/{team}/signing-secret and POST …/rotate: team admins only, audited, problem+json errors."""

from __future__ import annotations

import pytest

from jobs.crypto import decrypt_value
from jobs.models import AuditEntry, Team

pytestmark = pytest.mark.django_db

URL = "/api/teams/acme/signing-secret"
ROTATE = URL + "/rotate"


def test_it_shows_the_admin_the_secret_that_signs(as_user, owner, team):
    response = as_user(owner).get(URL)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body == {"header": "Hourglass-Signature", "secret": decrypt_value(team.signing_secret), "previous": None}
    assert body["secret"].startswith("whsec_")
    entry = AuditEntry.objects.get(action="signing_secret.view")
    assert (entry.actor_label, entry.team_id) == ("alice", team.pk)
    assert body["secret"] not in str(entry.details)


@pytest.mark.parametrize("persona", ["editor", "operator", "viewer"])
def test_other_roles_get_403(request, as_user, persona):
    client = as_user(request.getfixturevalue(persona))
    for response in (client.get(URL), client.post(ROTATE, {}, format="json")):
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        assert "whsec_" not in response.content.decode()
    assert not AuditEntry.objects.filter(action__startswith="signing_secret").exists()


def test_another_teams_admin_gets_404(as_user, outsider, team):
    client = as_user(outsider)
    assert client.get(URL).status_code == 404
    assert client.post(ROTATE, {}, format="json").status_code == 404
    assert client.get("/api/teams/globex/signing-secret").status_code == 200  # their own team


def test_a_key_needs_the_team_admin_scope(as_key, owner):
    assert as_key(["job:read", "job:run", "job:edit"], created_by=owner).get(URL).status_code == 403
    assert as_key(["team:admin"], created_by=owner).get(URL).status_code == 200


def test_rotation_keeps_the_old_secret_signing_for_the_grace_period(as_user, owner, team):
    old = decrypt_value(team.signing_secret)
    response = as_user(owner).post(ROTATE, {"graceSeconds": 3600}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["secret"] != old
    assert body["secret"].startswith("whsec_")
    assert body["previous"]["secret"] == old
    team.refresh_from_db()
    assert (
        team.previous_signing_secret_expires_at - AuditEntry.objects.get(action="signing_secret.rotate").created_at
    ).total_seconds() == pytest.approx(3600, abs=5)
    assert as_user(owner).get(URL).json()["previous"]["secret"] == old


def test_rotation_defaults_to_24_hours_and_0_stops_the_old_one_at_once(as_user, owner, team):
    client = as_user(owner)
    entry_details = lambda: AuditEntry.objects.filter(action="signing_secret.rotate").first().details  # noqa: E731
    assert client.post(ROTATE, {}, format="json").json()["previous"] is not None
    assert entry_details()["grace_seconds"] == 24 * 3600
    assert client.post(ROTATE, {"graceSeconds": 0}, format="json").json()["previous"] is None
    assert entry_details()["grace_seconds"] == 0
    assert Team.objects.get(pk=team.pk).previous_signing_secret == ""


@pytest.mark.parametrize(
    ("payload", "location"),
    [
        ({"graceSeconds": -1}, "body.graceSeconds"),
        ({"graceSeconds": 10**9}, "body.graceSeconds"),
        ({"grace": 5}, "body.grace"),
    ],
)
def test_a_bad_rotation_is_refused_with_the_field(as_user, owner, team, payload, location):
    before = Team.objects.get(pk=team.pk).signing_secret
    response = as_user(owner).post(ROTATE, payload, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert location in [error["location"] for error in response.json()["errors"]]
    assert Team.objects.get(pk=team.pk).signing_secret == before


def test_the_schema_describes_both_endpoints(api):
    paths = api.get("/api/schema/?format=json").json()["paths"]
    assert "get" in paths["/api/teams/{team}/signing-secret"]
    assert "post" in paths["/api/teams/{team}/signing-secret/rotate"]
