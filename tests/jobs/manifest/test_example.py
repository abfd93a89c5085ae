"""examples/jobs.yaml, planned against what seeddemo (`make run`) makes: the two changes it describes, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "jobs.yaml"


def test_the_example_plans_its_two_changes_against_the_demo(capsys):
    call_command("seeddemo", "--base-url", "http://127.0.0.1:8000")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_code:
        call_command("jobs", "plan", str(EXAMPLE), "--team", "demo", "--format", "json")
    assert exit_code.value.code == 2
    plan = json.loads(capsys.readouterr().out)
    assert plan["summary"] == {"create": 1, "update": 1, "delete": 0, "unchanged": 3}
    heartbeat, digest = plan["jobs"]
    assert heartbeat["naturalId"] == "heartbeat"
    assert {change["path"]: change["new"] for change in heartbeat["changes"]} == {
        "name": "Heartbeat every 30 seconds",
        "schedule.seconds": 30,
    }
    assert heartbeat["slots7d"]["removed"] > 0
    assert digest["naturalId"] == "weekly-digest"
    assert digest["action"] == "create"
    call_command("jobs", "apply", str(EXAMPLE), "--team", "demo")
    call_command("jobs", "plan", str(EXAMPLE), "--team", "demo")  # no SystemExit: nothing left to change
