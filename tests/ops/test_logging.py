"""Structured logs: LOG_FORMAT=json writes one JSON object per line, and lines about a run carry its ids."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.logging import JsonFormatter, PlainFormatter
from tests.jobs.engine.execute_support import execute, make_job, make_run

ROOT = Path(__file__).resolve().parents[2]
PLAIN = "%(asctime)s %(levelname)s %(name)s %(message)s"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes through the JSON formatter while the test runs, at INFO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.django_db(transaction=True)
def test_a_runs_log_line_carries_its_run_and_job_ids(team, target, json_lines):
    job = make_job(team, target.url("/status/503"))
    run = execute(make_run(job))

    lines = parsed(json_lines)  # every line parses on its own

    about_run = [line for line in lines if line.get("run_id") == str(run.pk)]
    assert about_run, lines
    ended = next(line for line in about_run if line["logger"] == "jobs.runs")
    assert ended["job_id"] == str(job.pk)
    assert ended["end_reason"] == "failed"
    assert ended["level"] == "INFO"
    assert ended["message"] == "run ended: failed"
    assert {"time", "level", "logger", "message"} <= set(ended)


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("jobs.engine.execute", logging.ERROR, __file__, 1, "run %s broke", ("r-1",), None)
    record.__dict__.update(extra)
    return record


def test_the_json_formatter_keeps_extras_and_tracebacks():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    record.__dict__.update(run_id="r-1", job_id="j-1", level="not the real level")

    line = json.loads(JsonFormatter().format(record))

    assert (line["message"], line["level"], line["logger"]) == ("failed", "ERROR", "x")
    assert (line["run_id"], line["job_id"]) == ("r-1", "j-1")
    assert "ValueError: boom" in line["exc_info"]
    assert line["time"].endswith("+00:00")


def test_the_plain_formatter_shows_the_ids_too():
    text = PlainFormatter(PLAIN).format(_record(run_id="r-1", job_id="j-1", data={"noise": 1}))
    assert text.endswith("ERROR jobs.engine.execute run r-1 broke [run_id=r-1 job_id=j-1]")
    assert PlainFormatter(PLAIN).format(_record()).endswith("run r-1 broke")


def _log_from_a_fresh_process(log_format: str) -> str:
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('jobs.runs').warning('run ended: %s', 'timeout', extra={'run_id': 'r-9', 'job_id': 'j-9'})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_FORMAT": log_format}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_log_format_json_switches_the_root_handler():
    line = json.loads(_log_from_a_fresh_process("json"))
    assert (line["logger"], line["level"], line["message"]) == ("jobs.runs", "WARNING", "run ended: timeout")
    assert (line["run_id"], line["job_id"]) == ("r-9", "j-9")

    plain = _log_from_a_fresh_process("plain")
    assert plain.endswith("WARNING jobs.runs run ended: timeout [run_id=r-9 job_id=j-9]")
