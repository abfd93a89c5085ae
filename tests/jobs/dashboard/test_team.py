"""The team page: members and roles; API keys created (secret shown once) and revoked."""

from __future__ import annotations

import re

from django.urls import reverse

from jobs.models import ApiKey
from tests.factories import TeamFactory

TEAM = reverse("jobs:team")


def test_it_lists_members_and_their_roles(as_user, owner, editor, viewer):
    body = as_user(owner).get(TEAM).content.decode()
    for username, role in (("alice", "Admin"), ("erin", "Editor"), ("bob", "Viewer")):
        assert re.search(rf'data-member="{username}".*?<option value="[a-z]+" selected>{role}</option>', body, re.S)


def test_it_shows_a_new_keys_secret_once_and_stores_only_its_hash(as_user, owner, team):
    client = as_user(owner)
    data = {"name": "ci", "scopes": ["job:read", "job:run"]}
    response = client.post(reverse("jobs:apikey-create"), data, follow=True)
    assert response.redirect_chain == [(TEAM, 302)]  # a reload cannot post a second key
    secret = re.search(r"data-new-key>(hg_[^<]+)<", response.content.decode()).group(1)
    key = ApiKey.objects.get(team=team, name="ci")
    assert key.scopes == ["job:read", "job:run"]
    assert secret not in key.secret_hash
    assert secret not in client.get(TEAM).content.decode()
    assert "ci" in client.get(TEAM).content.decode()


def test_it_rejects_a_key_without_a_name_or_scope(as_user, owner):
    response = as_user(owner).post(reverse("jobs:apikey-create"), {"name": "", "scopes": []})
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_it_revokes_a_key_after_confirmation(as_user, owner, team):
    client = as_user(owner)
    client.post(reverse("jobs:apikey-create"), {"name": "ci", "scopes": ["job:read"]})
    key = ApiKey.objects.get()
    url = reverse("jobs:apikey-revoke", kwargs={"key_id": key.pk})
    assert "Revoke the key" in client.get(url).content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None
    assert client.post(url).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_it_does_not_reach_another_teams_keys(as_user, owner, outsider):
    other_key = ApiKey.objects.create(team=TeamFactory(slug="globex"), name="theirs", prefix="abc", secret_hash="x")
    url = reverse("jobs:apikey-revoke", kwargs={"key_id": other_key.pk})
    assert as_user(owner).post(url).status_code == 404
    other_key.refresh_from_db()
    assert other_key.revoked_at is None


def test_it_refuses_key_changes_to_an_editor(as_user, editor, team):
    client = as_user(editor)
    assert client.post(reverse("jobs:apikey-create"), {"name": "ci", "scopes": ["job:read"]}).status_code == 403
    assert not ApiKey.objects.exists()
