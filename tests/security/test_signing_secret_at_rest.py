"""The signing secret is stored sealed (jobs.crypto), read through one helper, and printed by a command."""

from __future__ import annotations

import importlib

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from jobs.crypto import PREFIX, decrypt_value
from jobs.engine.signing import team_secrets
from jobs.models import AuditEntry, Team
from jobs.signing_secrets import signing_secret_reveal, signing_secret_rotate
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


def test_a_new_teams_secret_is_sealed_at_rest():
    team = TeamFactory(slug="sealed")
    stored = Team.objects.values_list("signing_secret", flat=True).get(pk=team.pk)
    assert stored.startswith(PREFIX)
    assert decrypt_value(stored).startswith("whsec_")
    assert "whsec_" not in stored


def test_the_migration_seals_secrets_stored_in_clear_text():
    team = TeamFactory(slug="legacy")
    Team.objects.filter(pk=team.pk).update(signing_secret="whsec_plain", previous_signing_secret="whsec_older")
    migration = importlib.import_module("jobs.migrations.0005_signing_secret_sealed")
    migration.seal(apps, None)
    migration.seal(apps, None)  # twice: a sealed value is left as it is
    stored = Team.objects.get(pk=team.pk)
    assert stored.signing_secret.startswith(PREFIX)
    assert stored.previous_signing_secret.startswith(PREFIX)
    assert team_secrets(stored.signing_secret, stored.previous_signing_secret, now=stored.created_at) == (
        "whsec_plain",
        "whsec_older",
    )
    migration.unseal(apps, None)
    assert Team.objects.get(pk=team.pk).signing_secret == "whsec_plain"


def test_the_command_prints_the_secret_and_rotates_it(capsys, team):
    call_command("signingsecret", "acme")
    printed = capsys.readouterr().out.strip()
    assert printed == decrypt_value(team.signing_secret)

    call_command("signingsecret", "acme", "--rotate", "--grace-hours", "2")
    out, err = capsys.readouterr()
    team.refresh_from_db()
    assert out.strip() == decrypt_value(team.signing_secret) != printed
    assert (
        f"The previous secret also signs until {team.previous_signing_secret_expires_at.isoformat()}: {printed}" in err
    )
    assert list(AuditEntry.objects.values_list("action", "actor_label").order_by("created_at")) == [
        ("signing_secret.view", "system"),
        ("signing_secret.rotate", "system"),
    ]


@pytest.mark.parametrize(
    "args", [["nope"], ["acme", "--rotate", "--grace-hours", "-1"], ["acme", "--rotate", "--grace-hours", "nan"]]
)
def test_the_command_refuses_an_unknown_team_or_a_bad_grace(team, args):
    with pytest.raises(CommandError):
        call_command("signingsecret", *args)


def test_a_secret_sealed_with_another_key_asks_for_a_rotation_which_mends_it(team, settings):
    settings.HOURGLASS_ENCRYPTION_KEY = Fernet.generate_key().decode()  # the team's secret was sealed with another
    assert team_secrets(team.signing_secret, now=team.created_at) == ()  # left out, not a crash
    with pytest.raises(ValidationError, match="rotate it"):
        signing_secret_reveal(team=team)
    rotated = signing_secret_rotate(team=team)
    assert rotated.current.startswith("whsec_")
    assert rotated.previous == ""  # the old one cannot sign any more
    assert signing_secret_reveal(team=team).current == rotated.current
