import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from jobs.models import Job, Membership, Team

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_it_creates_a_team(capsys):
    call_command("createteam", "analytics", "--name", "Analytics")
    assert Team.objects.get(slug="analytics").name == "Analytics"
    assert "Created team analytics" in capsys.readouterr().out


@pytest.mark.django_db
def test_it_refuses_a_duplicate_or_invalid_team():
    call_command("createteam", "analytics")
    with pytest.raises(CommandError, match="already exists"):
        call_command("createteam", "analytics")
    with pytest.raises(CommandError, match="slug"):
        call_command("createteam", "not a slug")
    assert Team.objects.count() == 1


@pytest.mark.django_db
def test_it_adds_a_member_creating_the_user_with_the_env_password(monkeypatch, team):
    monkeypatch.setenv("HOURGLASS_PASSWORD", "s3cret-pass")
    call_command("addmember", "acme", "dana", "--role", "editor", "--email", "dana@example.com")
    user = get_user_model().objects.get(username="dana")
    assert user.check_password("s3cret-pass")
    assert user.email == "dana@example.com"
    assert Membership.objects.get(team=team, user=user).role == "editor"
    call_command("addmember", "acme", "dana", "--role", "viewer")  # changes the role, keeps one membership
    assert list(Membership.objects.filter(user=user).values_list("role", flat=True)) == ["viewer"]


@pytest.mark.django_db
def test_it_never_changes_an_existing_users_password(monkeypatch, team, other_team, capsys):
    monkeypatch.setenv("HOURGLASS_PASSWORD", "first-pass")
    call_command("addmember", "globex", "dana", "--role", "admin")
    capsys.readouterr()
    monkeypatch.setenv("HOURGLASS_PASSWORD", "second-pass")
    call_command("addmember", "acme", "dana", "--role", "viewer")
    user = get_user_model().objects.get(username="dana")
    assert user.check_password("first-pass")
    assert not user.check_password("second-pass")
    assert sorted(Membership.objects.filter(user=user).values_list("team__slug", "role")) == [
        ("acme", "viewer"),
        ("globex", "admin"),
    ]
    err = capsys.readouterr().err
    assert err == "dana already exists: their password is left unchanged.\n"


@pytest.mark.django_db
def test_it_refuses_an_unknown_team():
    with pytest.raises(CommandError, match="team 'nope' does not exist"):
        call_command("addmember", "nope", "dana", "--role", "viewer")
    assert not get_user_model().objects.filter(username="dana").exists()


@pytest.mark.django_db
def test_it_keeps_the_teams_last_admin(team):
    call_command("addmember", team.slug, "ada", "--role", "admin")
    with pytest.raises(CommandError, match="last admin and cannot be demoted"):
        call_command("addmember", team.slug, "ada", "--role", "viewer")
    assert Membership.objects.get(team=team, user__username="ada").role == "admin"
    call_command("addmember", team.slug, "bob", "--role", "admin")
    call_command("addmember", team.slug, "ada", "--role", "viewer")  # someone else is admin now
    assert Membership.objects.get(team=team, user__username="ada").role == "viewer"


def test_it_exits_non_zero_with_one_line_on_a_bad_argument():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "addmember", "acme", "dana", "--role", "owner"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "invalid choice: 'owner'" in lines[0]


@pytest.mark.django_db
def test_seeddemo_is_idempotent(capsys):
    call_command("seeddemo", "--base-url", "http://127.0.0.1:8123")
    call_command("seeddemo", "--base-url", "http://127.0.0.1:8123")
    team = Team.objects.get(slug="demo")
    roles = dict(Membership.objects.filter(team=team).values_list("user__username", "role"))
    assert roles == {"demo-admin": "admin", "demo-editor": "editor", "demo-viewer": "viewer"}
    assert get_user_model().objects.get(username="demo-viewer").check_password("demo")
    jobs = Job.objects.filter(team=team)
    assert jobs.count() == 4
    assert all(job.next_run_at is not None for job in jobs)
    two_step = jobs.get(natural_id="fetch-and-notify")
    assert [s.name for s in two_step.steps.all()] == ["fetch", "notify"]
    assert two_step.steps.get(name="fetch").config["url"] == "http://127.0.0.1:8123/echo/?bytes=64"
    assert "password: demo" in capsys.readouterr().out
