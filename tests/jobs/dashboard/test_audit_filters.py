"""The audit log page's Since and Until are date-time pickers (UTC), parsed and shown back as such."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from jobs.models import AuditEntry

AUDIT = reverse("jobs:audit")


@pytest.fixture
def entries(team, owner) -> list[AuditEntry]:
    made = []
    for hour, label in ((8, "early"), (10, "middle"), (12, "late")):
        made.append(
            AuditEntry.objects.create(
                team=team,
                actor_label="alice",
                action=AuditEntry.Action.JOB_CREATE,
                target_type="job",
                target_label=label,
                created_at=datetime(2026, 1, 1, hour, 0, 0, tzinfo=UTC),
            )
        )
    return made


def _labels(body: str) -> list[str]:
    return re.findall(r'<td>job <span class="mono small">([a-z]+)</span>', body)


def _input(body: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{name}"[^>]*>', body).group(0)


def test_since_and_until_are_date_time_inputs(as_user, owner, entries):
    body = as_user(owner).get(AUDIT).content.decode()
    for name in ("since", "until"):
        assert 'type="datetime-local"' in _input(body, name)
    assert "Since (UTC)" in body
    assert _labels(body) == ["late", "middle", "early"]


def test_it_filters_by_what_the_picker_sends_and_shows_it_back(as_user, owner, entries):
    # A datetime-local picker sends a wall time without a zone, with or without seconds.
    response = as_user(owner).get(AUDIT, {"since": "2026-01-01T09:30", "until": "2026-01-01T12:00:00"})
    body = response.content.decode()
    assert response.status_code == 200
    assert _labels(body) == ["middle"]
    assert 'value="2026-01-01T09:30:00"' in _input(body, "since")
    assert 'value="2026-01-01T12:00:00"' in _input(body, "until")


def test_a_time_with_an_offset_is_read_in_utc_and_shown_as_the_picker_can(as_user, owner, entries):
    body = as_user(owner).get(AUDIT, {"since": "2026-01-01T11:00:00+02:00"}).content.decode()
    assert _labels(body) == ["late", "middle"]
    assert 'value="2026-01-01T09:00:00"' in _input(body, "since")


def test_a_bad_time_is_reported_on_its_field(as_user, owner, entries):
    response = as_user(owner).get(AUDIT, {"since": "yesterday"})
    body = response.content.decode()
    assert response.status_code == 400
    assert "since: Enter a valid date/time." in body
    assert 'value="yesterday"' in _input(body, "since")
    assert _labels(body) == []
