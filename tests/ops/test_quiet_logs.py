"""The log at rest: the clock tasks' routine lines at DEBUG, each django.request line once, and no error for a 500
the demo asked the echo endpoint for."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LINES = """
import django, logging
django.setup()
trace = logging.getLogger("celery.app.trace")
logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "dispatch", "hourglass.dispatch")
logging.getLogger("celery.worker.strategy").info("Task %s[%s] received", "hourglass.reap", "id-1")
trace.info("Task %s[%s] succeeded in %ss: %r", "hourglass.dispatch", "id-2", 0.01, 0)
trace.info("Task %s[%s] succeeded in %ss: %r", "hourglass.execute_runs", "id-3", 0.01, None)
trace.error("Task %s[%s] raised unexpected: %r", "hourglass.dispatch", "id-4", "boom")
logging.getLogger("django.request").warning("Not Found: %s", "/nowhere/")
"""


def _fresh_process_log(**env: str) -> list[str]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_FORMAT": "plain", **env}
    result = subprocess.run(
        [sys.executable, "-c", LINES],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.strip().splitlines()


def test_at_info_the_clock_tasks_routine_lines_are_left_out_and_the_rest_is_printed_once():
    lines = _fresh_process_log(LOG_LEVEL="INFO")
    assert not any("hourglass.dispatch (" in line or "hourglass.reap[" in line for line in lines), lines
    assert not any("hourglass.dispatch[id-2]" in line for line in lines), lines
    assert sum("hourglass.execute_runs[id-3] succeeded" in line for line in lines) == 1  # the executor's stay
    assert sum("ERROR celery.app.trace Task hourglass.dispatch[id-4] raised" in line for line in lines) == 1
    assert [line for line in lines if "/nowhere/" in line] == [lines[-1]]  # once, not twice
    assert lines[-1].endswith("WARNING django.request Not Found: /nowhere/")


def test_at_debug_the_clock_tasks_lines_are_debug_lines():
    lines = _fresh_process_log(LOG_LEVEL="DEBUG")
    assert any(
        line.endswith("DEBUG celery.beat Scheduler: Sending due task dispatch (hourglass.dispatch)") for line in lines
    )
    assert any("DEBUG celery.worker.strategy Task hourglass.reap[id-1] received" in line for line in lines)


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["status=500", "status=503&bytes=100"])
def test_a_500_the_echo_endpoint_was_asked_for_is_not_logged_as_an_error(client, caplog, query):
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        response = client.get(f"/echo/?{query}")
    assert response.status_code >= 500
    request_lines = [record for record in caplog.records if record.name == "django.request"]
    assert [record.levelno for record in request_lines] == [logging.DEBUG]
    assert not any(record.exc_info for record in request_lines)
