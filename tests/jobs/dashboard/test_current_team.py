"""Which team the dashboard opens on: the one picked in the switcher, else the one the user joined first."""

from __future__ import annotations

import re

from django.core.management import call_command
from django.urls import reverse

from tests.factories import JobFactory, MembershipFactory, TeamFactory

LIST = reverse("jobs:list")


def _names(body: str) -> list[str]:
    return re.findall(r'class="name" href="[^"]+">([^<]+)</a>', body)


def test_it_opens_on_the_first_team_joined_not_the_first_by_name(as_user, client, viewer, team, job):
    # bob works in Acme; being added to Aardvark later (its name sorts first) must not move him there.
    aardvark = TeamFactory(slug="aardvark", name="Aardvark")
    JobFactory(team=aardvark, natural_id="other", name="Aardvark's job")
    call_command("addmember", "aardvark", "bob", "--role", "viewer")
    assert _names(as_user(viewer).get(LIST).content.decode()) == ["Nightly report"]

    # A fresh sign-in (no switcher choice in the session) opens on the same team.
    client.logout()
    assert _names(as_user(viewer).get(LIST).content.decode()) == ["Nightly report"]


def test_the_switchers_choice_wins_for_the_session(as_user, viewer, team, job):
    initech = TeamFactory(slug="initech", name="Initech")
    MembershipFactory(team=initech, user=viewer, role="editor")
    JobFactory(team=initech, natural_id="tps", name="TPS reports")
    client = as_user(viewer)
    assert _names(client.get(LIST).content.decode()) == ["Nightly report"]
    client.post(reverse("jobs:team-switch"), {"team": "initech"})
    assert _names(client.get(LIST).content.decode()) == ["TPS reports"]
