"""Over-long input: a long search is Django's 400 problem+json; a request line past gunicorn's limit is
gunicorn's own 414, sent before Django sees the request (docs/api.md, "Long requests")."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
REQUEST_LINE_LIMIT = 4094  # gunicorn's --limit-request-line default, which `make run` keeps


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/api/jobs?q=", "query.q"),
        ("/api/history?q=", "query.q"),
        ("/api/jobs/nightly-report/history?q=", "query.q"),
        ("/api/tasks/nightly-report/runs?search=", "query.search"),
    ],
)
def test_a_search_longer_than_200_characters_is_a_400_naming_it(as_key, job, path, location):
    response = as_key("job:read").get(path + "x" * 3000)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["location"] == location
    assert "200" in error["message"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[int]:
    """The web server as `make run` starts it (gunicorn's defaults), on a free loopback port."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOURGLASS_")}
    env.update(DEBUG="true", HOURGLASS_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [str(GUNICORN), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(10)


def _get(port: int, target: str) -> tuple[int, str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode(errors="replace")
    finally:
        connection.close()


def test_gunicorn_answers_414_itself_past_its_request_line_limit(gunicorn):
    line_overhead = len("GET  HTTP/1.1")
    fits = "/api/jobs?q=" + "x" * (REQUEST_LINE_LIMIT - line_overhead - len("/api/jobs?q="))
    too_long = fits + "x"

    status, content_type, _ = _get(gunicorn, fits)
    assert (status, content_type) == (401, "application/problem+json")  # Django answered

    status, content_type, body = _get(gunicorn, too_long)
    assert (status, content_type) == (414, "text/html")  # gunicorn answered; Django never saw it
    assert f"Request Line is too large ({REQUEST_LINE_LIMIT + 1} &gt; {REQUEST_LINE_LIMIT})" in body
