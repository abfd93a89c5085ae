"""The suite's own machinery starts without warnings: the web stack on a fresh var folder, and the HTTP target."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

from tests.target import start_target

ROOT = Path(__file__).resolve().parents[2]


def test_the_web_stack_starts_without_a_warning_on_a_fresh_var_folder(tmp_path):
    # A fresh clone has no var/staticfiles (collectstatic never runs in development): WhiteNoise warned
    # "No directory at" once per middleware chain, which was most of the suite's warnings.
    # As under pytest-django, which runs the tests with DEBUG off (WhiteNoise then reads STATIC_ROOT at start).
    code = (
        "import django; from django.conf import settings; django.setup(); settings.DEBUG = False; "
        "from django.core.handlers.wsgi import WSGIHandler; WSGIHandler()"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "HOURGLASS_VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr


def test_the_http_target_starts_and_stops_without_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target, stop = start_target()
        stop()
    assert target.port
    assert [str(warning.message) for warning in caught] == []
