"""The hourglass client (python -m hourglass_cli) run as CI runs it, against a live server: plan, apply, export,
runs list, and runs trigger --wait exiting non-zero on a failed run. It needs nothing but the standard library."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection

from history.models import Run
from jobs.engine.execute import execute_runs
from jobs.models import AuditEntry, Job
from jobs.services import apikey_create
from tests.jobs.manifest.support import MANIFEST, SECRET

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hourglass(live_server, team, owner):
    _, key = apikey_create(team=team, name="ci", scopes=["job:read", "job:run", "job:edit"], created_by=owner)

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        environment = {"PATH": os.environ["PATH"], "HOURGLASS_URL": live_server.url, "HOURGLASS_KEY": key, **env}
        return subprocess.run(
            [sys.executable, "-m", "hourglass_cli", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=environment,
            timeout=60,
            check=False,
        )

    return run


def test_plan_apply_export_round_trip(hourglass, tmp_path, team):
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(MANIFEST)
    planned = hourglass("plan", str(manifest), "--team", "acme", REPORT_TOKEN=SECRET)
    assert planned.returncode == 2, planned.stderr
    assert "+ nightly-report (create)" in planned.stdout
    assert SECRET not in planned.stdout

    applied = hourglass("apply", str(manifest), "--team", "acme", REPORT_TOKEN=SECRET)
    assert applied.returncode == 0, applied.stderr
    assert Job.objects.filter(team=team).count() == 3
    assert AuditEntry.objects.get(action="manifest.apply").actor_label.startswith("key:")

    again = hourglass("plan", str(manifest), "--team", "acme", "--format", "json", REPORT_TOKEN=SECRET)
    assert again.returncode == 0, again.stdout
    assert '"changed": false' in again.stdout

    exported = tmp_path / "exported.yaml"
    assert hourglass("export", "--team", "acme", "-o", str(exported)).returncode == 0
    assert SECRET not in exported.read_text()
    assert hourglass("plan", str(exported), "--team", "acme").returncode == 0


def test_a_bad_manifest_exits_1_naming_each_line(hourglass, tmp_path):
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(MANIFEST.replace("Europe/Berlin", "Mars/Olympus"))
    result = hourglass("apply", str(manifest), "--team", "acme", REPORT_TOKEN=SECRET)
    assert result.returncode == 1
    assert "line 6: jobs.nightly-report.schedule.timezone:" in result.stderr
    assert not Job.objects.exists()


@pytest.fixture
def worker():
    """What a worker does, in a thread: execute each pending run."""
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.wait(0.2):
                pending = [str(pk) for pk in Run.objects.filter(status=Run.Status.PENDING).values_list("pk", flat=True)]
                if pending:
                    execute_runs(pending)
        finally:
            connection.close()  # the thread's own; left open, the test database could not be dropped

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def test_runs_trigger_wait_exits_on_the_outcome(hourglass, tmp_path, target, worker):
    manifest = tmp_path / "smoke.yaml"
    manifest.write_text(
        "version: 1\njobs:\n"
        f"  smoke-ok:\n    schedule: {{kind: cron, expression: '0 0 1 1 *'}}\n"
        f"    request: {{url: '{target.url('/ok')}'}}\n"
        f"  smoke-bad:\n    schedule: {{kind: cron, expression: '0 0 1 1 *'}}\n"
        f"    request: {{url: '{target.url('/status/503')}'}}\n"
    )
    assert hourglass("apply", str(manifest), "--team", "acme").returncode == 0
    good = hourglass("runs", "trigger", "smoke-ok", "--wait", "--interval", "0.2")
    assert good.returncode == 0, good.stderr
    assert "success" in good.stdout
    bad = hourglass("runs", "trigger", "smoke-bad", "--wait", "--interval", "0.2")
    assert bad.returncode == 1
    assert "failed" in bad.stderr
    listed = hourglass("runs", "list", "smoke-ok")
    assert listed.returncode == 0
    assert len(listed.stdout.splitlines()) == 1


def test_it_needs_the_url_and_the_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hourglass_cli", "export", "--team", "acme"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        check=False,
    )
    assert result.returncode == 1
    assert "HOURGLASS_URL" in result.stderr


def test_it_imports_only_the_standard_library():
    for source in (ROOT / "hourglass_cli").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names | {"__future__"}, (source.name, name)
