"""The team's signing secret page: only team admins see or rotate it, after a confirmation; audited."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from jobs.crypto import decrypt_value
from jobs.models import AuditEntry, Team

PAGE = reverse("jobs:signing-secret")
ROTATE = reverse("jobs:signing-secret-rotate")


def _shown(response) -> str:
    return re.search(r"data-signing-secret>([^<]+)<", response.content.decode()).group(1)


def test_the_secret_is_shown_only_when_asked_and_each_look_is_audited(as_user, owner, team):
    client = as_user(owner)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert decrypt_value(team.signing_secret) not in page.content.decode()
    assert not AuditEntry.objects.filter(action="signing_secret.view").exists()

    shown = client.post(PAGE)
    assert _shown(shown) == decrypt_value(team.signing_secret)
    assert "no-store" in shown["Cache-Control"]
    assert AuditEntry.objects.get(action="signing_secret.view").actor_label == "alice"


def test_rotation_asks_first_then_rotates_and_keeps_the_old_one_signing(as_user, owner, team):
    client = as_user(owner)
    old = decrypt_value(team.signing_secret)
    confirm = client.post(ROTATE, {"grace": "86400"})
    assert confirm.status_code == 200
    assert "Rotate now" in confirm.content.decode()
    assert Team.objects.get(pk=team.pk).signing_secret == team.signing_secret  # not yet

    done = client.post(ROTATE, {"grace": "86400", "confirm": "on"}, follow=True)
    assert done.redirect_chain == [(PAGE, 302)]
    assert "The old one also signs for 24 hours" in done.content.decode()
    shown = client.post(PAGE).content.decode()
    new = decrypt_value(Team.objects.get(pk=team.pk).signing_secret)
    assert new != old
    assert re.search(r"data-signing-secret>([^<]+)<", shown).group(1) == new
    assert re.search(r"data-previous-secret>([^<]+)<", shown).group(1) == old
    assert AuditEntry.objects.filter(action="signing_secret.rotate", actor_label="alice").count() == 1


def test_a_grace_period_not_offered_is_refused(as_user, owner, team):
    response = as_user(owner).post(ROTATE, {"grace": "999", "confirm": "on"})
    assert response.status_code == 400
    assert Team.objects.get(pk=team.pk).signing_secret == team.signing_secret


@pytest.mark.parametrize("persona", ["editor", "operator", "viewer"])
def test_other_roles_get_403(request, as_user, team, persona):
    client = as_user(request.getfixturevalue(persona))
    secret = decrypt_value(team.signing_secret)
    for response in (client.get(PAGE), client.post(PAGE), client.post(ROTATE, {"grace": "0", "confirm": "on"})):
        assert response.status_code == 403
        assert secret not in response.content.decode()
    assert Team.objects.get(pk=team.pk).signing_secret == team.signing_secret


def test_an_admin_of_another_team_sees_only_their_own(as_user, outsider, team):
    shown = _shown(as_user(outsider).post(PAGE))
    assert shown == decrypt_value(Team.objects.get(slug="globex").signing_secret)
    assert shown != decrypt_value(team.signing_secret)


def test_the_team_page_links_to_it(as_user, owner):
    assert PAGE in as_user(owner).get(reverse("jobs:team")).content.decode()
