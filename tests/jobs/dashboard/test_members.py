"""Team admins add or invite members, change roles and remove members; the last admin stays. Audited."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from jobs.models import AuditEntry, Membership
from tests.factories import MembershipFactory, UserFactory

TEAM = reverse("jobs:team")
ADD = reverse("jobs:member-add")


def _role_url(membership: Membership) -> str:
    return reverse("jobs:member-role", kwargs={"membership_id": membership.pk})


def _remove_url(membership: Membership) -> str:
    return reverse("jobs:member-remove", kwargs={"membership_id": membership.pk})


def _membership(team, user) -> Membership:
    return Membership.objects.get(team=team, user=user)


def test_it_adds_an_existing_user_by_username_or_email(as_user, owner, team):
    dana, eve = UserFactory(username="dana"), UserFactory(username="eve", email="Eve@Example.com")
    client = as_user(owner)
    response = client.post(ADD, {"who": "dana", "role": "editor"}, follow=True)
    assert response.redirect_chain == [(TEAM, 302)]
    assert "Added dana as Editor." in response.content.decode()
    client.post(ADD, {"who": "eve@example.com", "role": "viewer"})
    assert _membership(team, dana).role == "editor"
    assert _membership(team, eve).role == "viewer"
    assert mail.outbox == []  # existing users get no invitation
    entry = AuditEntry.objects.filter(action="member.add").first()
    assert (entry.actor_label, entry.target_label, entry.details["role"]) == ("alice", "eve", "viewer")


def test_it_invites_a_new_email_with_a_link_to_set_a_password(as_user, owner, team, client):
    response = as_user(owner).post(ADD, {"who": "new.person@example.com", "role": "operator"}, follow=True)
    assert "Invited new.person@example.com as Operator" in response.content.decode()
    user = get_user_model().objects.get(username="new.person@example.com")
    assert not user.has_usable_password()
    assert _membership(team, user).role == "operator"
    [invitation] = mail.outbox
    assert invitation.to == ["new.person@example.com"]
    link = re.search(r"http://testserver(/accounts/reset/\S+)", invitation.body).group(1)

    client.logout()
    page = client.get(link, follow=True)
    assert "Set your password" in page.content.decode()
    done = client.post(
        page.redirect_chain[-1][0], {"new_password1": "a-long-pass-9271", "new_password2": "a-long-pass-9271"}
    )
    assert done.status_code == 302
    assert client.login(username="new.person@example.com", password="a-long-pass-9271")
    assert client.get(link, follow=True).context["validlink"] is False  # the link works once


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("nobody", "No user &#x27;nobody&#x27;. To invite someone new, give their email address."),
        ("bob", "bob is already a member; change their role below."),
        ("", "This field is required."),
    ],
)
def test_it_refuses_an_unknown_username_or_a_member_on_the_field(as_user, owner, viewer, who, message):
    response = as_user(owner).post(ADD, {"who": who, "role": "viewer"})
    assert response.status_code == 400
    body = response.content.decode()
    assert re.search(r'<div class="field invalid">\s*<label for="id_who">', body)
    assert message in body


def test_it_changes_a_role(as_user, owner, team, viewer):
    response = as_user(owner).post(_role_url(_membership(team, viewer)), {"role": "editor"}, follow=True)
    assert "bob is now Editor." in response.content.decode()
    assert _membership(team, viewer).role == "editor"
    entry = AuditEntry.objects.get(action="member.change")
    assert entry.details == {"role": "editor", "previous_role": "viewer"}


def test_it_removes_a_member_after_confirmation(as_user, owner, team, viewer):
    client = as_user(owner)
    membership = _membership(team, viewer)
    assert "Remove bob from Acme?" in client.get(_remove_url(membership)).content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()
    response = client.post(_remove_url(membership), follow=True)
    assert "Removed bob from Acme." in response.content.decode()
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert get_user_model().objects.filter(username="bob").exists()  # the account stays
    assert AuditEntry.objects.get(action="member.remove").target_label == "bob"


def test_the_last_admin_can_be_neither_demoted_nor_removed(as_user, owner, team):
    client = as_user(owner)
    membership = _membership(team, owner)
    demoted = client.post(_role_url(membership), {"role": "editor"})
    assert demoted.status_code == 409
    assert "alice is the team&#x27;s last admin and cannot be demoted" in demoted.content.decode()
    removed = client.post(_remove_url(membership))
    assert removed.status_code == 409
    assert "alice is the team&#x27;s last admin and cannot be removed" in removed.content.decode()
    assert _membership(team, owner).role == "admin"
    assert not AuditEntry.objects.filter(action__in=["member.change", "member.remove"]).exists()


def test_an_admin_can_step_down_when_another_admin_remains(as_user, owner, team):
    second = MembershipFactory(team=team, user=UserFactory(username="zoe"), role="admin")
    client = as_user(owner)
    client.post(_role_url(_membership(team, owner)), {"role": "viewer"})
    assert _membership(team, owner).role == "viewer"
    assert client.get(TEAM).status_code == 403  # no longer an admin
    assert Membership.objects.get(pk=second.pk).role == "admin"


def test_an_admin_who_removes_themselves_goes_to_the_jobs_list(as_user, owner, team):
    MembershipFactory(team=team, user=UserFactory(username="zoe"), role="admin")
    response = as_user(owner).post(_remove_url(_membership(team, owner)))
    assert response.url == reverse("jobs:list")


@pytest.mark.parametrize("persona", ["editor", "operator", "viewer"])
def test_other_roles_get_403(request, as_user, team, owner, persona):
    client = as_user(request.getfixturevalue(persona))
    target = _membership(team, owner)
    assert client.post(ADD, {"who": "someone@example.com", "role": "admin"}).status_code == 403
    assert client.post(_role_url(target), {"role": "viewer"}).status_code == 403
    assert client.get(_remove_url(target)).status_code == 403
    assert client.post(_remove_url(target)).status_code == 403
    assert _membership(team, owner).role == "admin"
    assert not get_user_model().objects.filter(username="someone@example.com").exists()


def test_an_admin_of_another_team_gets_404_for_this_teams_members(as_user, outsider, team, viewer):
    client = as_user(outsider)
    target = _membership(team, viewer)
    assert client.post(_role_url(target), {"role": "admin"}).status_code == 404
    assert client.post(_remove_url(target)).status_code == 404
    assert _membership(team, viewer).role == "viewer"
