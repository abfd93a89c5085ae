"""A revoked key is refused on the very next request, in this process and in every other one.

Keys are cached in each process for a few seconds (jobs.key_cache); the shared version it checks
on every request is what makes a revocation take effect at once everywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from jobs.services import apikey_create, apikey_revoke

ROOT = Path(__file__).resolve().parents[3]

# Another process serving the API: one request per line on stdin, answering its status and
# how many queries read the key table (0 once the key is cached there).
SERVER = """
import json, sys
import django
from django.conf import settings
settings.CACHES["default"]["KEY_PREFIX"] = sys.argv[1]
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, setup_test_environment
setup_test_environment()
client = Client(HTTP_AUTHORIZATION="Bearer " + sys.argv[2])
for _ in sys.stdin:
    with CaptureQueriesContext(connection) as captured:
        status = client.get("/api/jobs").status_code
    key_reads = sum("jobs_apikey" in query["sql"] for query in captured.captured_queries)
    print(json.dumps([status, key_reads]), flush=True)
"""


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def other_process(request):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("another process cannot open an in-memory database; set HOURGLASS_TEST_SQLITE to a file")
    started: list[subprocess.Popen] = []

    def start(raw_key: str) -> subprocess.Popen:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": _database_url()}
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, settings.CACHES["default"].get("KEY_PREFIX", ""), raw_key],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.stdin.close()
        process.wait(30)


def _request(process: subprocess.Popen) -> tuple[int, int]:
    process.stdin.write("GET\n")
    process.stdin.flush()
    status, key_reads = json.loads(process.stdout.readline())
    return status, key_reads


@pytest.mark.django_db(transaction=True)
def test_a_revoked_key_is_refused_on_the_next_request_in_another_process(team, other_process):
    key, raw = apikey_create(team=team, name="shared", scopes=["job:read"])
    server = other_process(raw)
    assert _request(server)[0] == 200
    assert _request(server) == (200, 0)  # served from that process's cache: no key query

    apikey_revoke(key=key)

    assert _request(server)[0] == 401


@pytest.mark.django_db(transaction=True)
def test_a_revoked_key_is_refused_on_the_next_request_in_this_process(team, client):
    key, raw = apikey_create(team=team, name="here", scopes=["job:read"])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/api/jobs", **headers).status_code == 200
    assert client.get("/api/jobs", **headers).status_code == 200

    apikey_revoke(key=key)

    assert client.get("/api/jobs", **headers).status_code == 401
