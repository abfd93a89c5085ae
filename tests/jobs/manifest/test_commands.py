"""manage.py jobs plan|apply|export against the real database: exit codes, the table and JSON, errors by line."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from jobs.models import AuditEntry, Job
from tests.jobs.manifest.support import MANIFEST, SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("REPORT_TOKEN", SECRET)
    path = tmp_path / "jobs.yaml"
    path.write_text(MANIFEST)
    return path


def _exit_code(*args: str) -> int:
    try:
        call_command("jobs", *args)
    except SystemExit as exc:
        return int(exc.code)
    return 0


def test_plan_exits_2_with_changes_and_apply_makes_them_then_plan_exits_0(team, manifest, capsys):
    assert _exit_code("plan", str(manifest), "--team", "acme") == 2
    out = capsys.readouterr().out
    assert "Plan for team acme: 3 to create, 0 to update, 0 to delete, 0 unchanged." in out
    assert "+ nightly-report (create)" in out
    assert "Next fire times (Europe/Berlin | UTC):" in out
    assert SECRET not in out
    assert not Job.objects.exists()

    assert _exit_code("apply", str(manifest), "--team", "acme") == 0
    assert Job.objects.filter(team=team).count() == 3
    assert AuditEntry.objects.filter(action="manifest.apply").exists()
    capsys.readouterr()
    assert _exit_code("plan", str(manifest), "--team", "acme", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["changed"] is False


def test_export_applies_back_to_no_change(team, manifest, tmp_path, capsys):
    call_command("jobs", "apply", str(manifest), "--team", "acme")
    capsys.readouterr()
    call_command("jobs", "export", "--team", "acme")
    exported = capsys.readouterr().out
    assert SECRET not in exported
    assert "secretFrom: stored" in exported
    path = tmp_path / "exported.yaml"
    path.write_text(exported)
    assert _exit_code("plan", str(path), "--team", "acme") == 0


def test_a_bad_manifest_exits_1_with_every_problem_by_line(team, manifest, capsys):
    manifest.write_text(MANIFEST.replace("Europe/Berlin", "Mars/Olympus").replace("seconds: 60", "seconds: 1"))
    with pytest.raises(CommandError, match="2 problem"):
        call_command("jobs", "apply", str(manifest), "--team", "acme")
    err = capsys.readouterr().err
    assert f"{manifest}:6: jobs.nightly-report.schedule.timezone:" in err
    assert f"{manifest}:20: jobs.heartbeat.schedule.seconds:" in err
    assert not Job.objects.exists()


def test_an_unknown_team_is_one_line(manifest):
    with pytest.raises(CommandError, match="team 'nope' does not exist"):
        call_command("jobs", "plan", str(manifest), "--team", "nope")
