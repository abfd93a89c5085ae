"""manage.py createapikey: prints the key alone; bad arguments end in one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from jobs.auth import apikey_verify
from jobs.models import ApiKey

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


def test_it_prints_only_the_key(team):
    out = StringIO()
    call_command("createapikey", "acme", "--name", "cli", "--scopes", "job:read,cron:write", stdout=out)
    raw = out.getvalue().strip()
    assert out.getvalue() == raw + "\n"
    key = apikey_verify(raw)
    assert (key.name, key.scopes, key.created_by) == ("cli", ["job:read", "job:edit"], None)


def test_it_bounds_the_key_by_a_users_role(team, viewer):
    with pytest.raises(CommandError, match="Beyond what the creator may do"):
        call_command("createapikey", "acme", "--name", "x", "--scopes", "job:edit", "--user", "bob")
    call_command("createapikey", "acme", "--name", "x", "--scopes", "job:read", "--user", "bob", stdout=StringIO())
    assert ApiKey.objects.get().created_by == viewer


def test_it_sets_an_expiry(team):
    call_command(
        "createapikey", "acme", "--name", "x", "--scopes", "job:read", "--expires-in-days", "3", stdout=StringIO()
    )
    assert ApiKey.objects.get().expires_at is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--name", "x", "--scopes", "job:read"], "team 'nope' does not exist"),
        (["acme", "--name", "x", "--scopes", "job:fly"], "unknown scope 'job:fly'"),
        (["acme", "--name", "x", "--scopes", ","], "at least one scope"),
        (["acme", "--name", "x", "--scopes", "job:read", "--user", "ghost"], "user 'ghost' does not exist"),
    ],
)
def test_bad_arguments_raise_one_clear_error(team, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("createapikey", *args)
    assert not ApiKey.objects.exists()


def test_on_the_command_line_a_bad_argument_is_one_line_and_non_zero(tmp_path):
    env = {"HOURGLASS_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "manage.py", "createapikey", "acme", "--name", "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--scopes" in result.stderr
