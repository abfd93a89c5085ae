"""Shared fixtures: the personas (owner, editor, operator, viewer, outsider) and a team."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from jobs.models import Team
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytest_plugins = ["tests.target"]


def pytest_configure(config) -> None:
    from django.conf import settings

    # The cache is shared (Redis or var/cache); a namespace per session keeps concurrent runs apart.
    settings.CACHES["default"]["KEY_PREFIX"] = f"hourglass-test-{uuid.uuid4().hex[:12]}"
    # Requests without credentials are limited per address (60/minute by default), and the suite sends
    # hundreds from 127.0.0.1 a minute; tests/jobs/api/test_anonymous_throttle.py sets its own rate.
    settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"] = "100000/minute"
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        _flush_by_delete()


def _flush_by_delete() -> None:
    """Tests with real commits (workers, live servers) empty every table after each test. TRUNCATE
    of the ~35 tables costs PostgreSQL ~150 ms a time (new files for each table and index); DELETE of
    the few rows a test leaves takes ~7 ms. Django's foreign keys are deferred, so order is free."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or not tables:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        deletes = (f"DELETE FROM {self.quote_name(table)}" for table in tables)  # noqa: S608 - Django's own table names
        return ["SET CONSTRAINTS ALL DEFERRED", *deletes]

    DatabaseOperations.sql_flush = sql_flush


# Tests that run real workers, browsers or benchmarks measure time and share the machine's two
# cores; under pytest-xdist (`--dist loadgroup`) they all go to one worker, in file order, while
# the others run the in-process tests.
SERIAL_DIRS = ("e2e", "faults", "bench")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(tests_dir).parts
        if (parts and parts[0] in SERIAL_DIRS) or item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("serial"))


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


# The seed pages sit beside the repository in ../shared/seeds (absent in some checkouts).
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def seed_examples(page: Path) -> list[Any]:
    """The JSON examples on a seed page (each starts a line with `{`), in page order."""
    text = page.read_text()
    decoder = json.JSONDecoder()
    examples, index = [], 0
    while (index := text.find("\n{", index)) != -1:
        value, end = decoder.raw_decode(text, index + 1)
        examples.append(value)
        index = end
    return examples
