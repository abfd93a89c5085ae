"""Shared fixtures: the personas (owner, editor, operator, viewer, outsider) and a team."""

from __future__ import annotations

import pytest

from jobs.models import Team
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytest_plugins = ["tests.target"]


@pytest.fixture
def team(db) -> Team:
    return TeamFactory(slug="acme", name="Acme")


@pytest.fixture
def other_team(db) -> Team:
    return TeamFactory(slug="globex", name="Globex")


def _member(team: Team, username: str, role: str):
    return MembershipFactory(team=team, user=UserFactory(username=username), role=role).user


@pytest.fixture
def owner(team):
    """alice: team admin."""
    return _member(team, "alice", "admin")


@pytest.fixture
def editor(team):
    return _member(team, "erin", "editor")


@pytest.fixture
def operator(team):
    return _member(team, "oscar", "operator")


@pytest.fixture
def viewer(team):
    """bob: read-only member."""
    return _member(team, "bob", "viewer")


@pytest.fixture
def outsider(other_team):
    """charlie: member of another team only."""
    return _member(other_team, "charlie", "admin")
