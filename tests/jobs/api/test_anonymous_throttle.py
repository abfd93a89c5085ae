"""Requests without valid credentials (no key, a bad key) are throttled per client address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api_support import throttle_rates

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
ELSEWHERE = "198.51.100.7"


def _assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) > 0
    assert "WWW-Authenticate" not in response


def test_requests_without_a_key_get_429_problem_json_past_the_rate(api, job):
    with throttle_rates(anon="3/minute"):
        statuses = [api.get("/api/jobs").status_code for _ in range(3)]
        throttled = api.get(f"/api/jobs/{job.pk}/history")

    assert statuses == [401, 401, 401]
    _assert_throttled(throttled)
    assert throttled["Content-Type"] == "application/problem+json"
    assert throttled.json()["status"] == 429


@pytest.mark.parametrize("header", ["Bearer hg_deadbeef0000_wrongsecret", "Bearer nonsense", "Basic Zm9vOmJhcg=="])
def test_bad_keys_share_the_address_bucket(api, job, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    with throttle_rates(anon="3/minute"):
        statuses = [api.get("/api/jobs").status_code for _ in range(3)]
        _assert_throttled(api.get("/api/history"))
    assert statuses == [401, 401, 401]


def test_every_dialect_counts_and_answers_in_its_own_shape(api, job):
    with throttle_rates(anon="4/minute"):
        for path in ("/api/jobs", f"/v1/projects/acme/jobs/{job.pk}/runs", "/api/tasks/x/runs", "/job/detail?id=1"):
            assert api.get(path).status_code == 401
        northflank = api.get(f"/v1/projects/acme/jobs/{job.pk}/runs")
        prunner = api.post("/pipelines/schedule", {"pipeline": "x"}, format="json")

    _assert_throttled(northflank)
    assert northflank["Content-Type"] == "application/problem+json"
    _assert_throttled(prunner)
    assert prunner["Content-Type"] == "application/json"
    assert set(prunner.json()) == {"error"}


def test_anonymous_schema_reads_count_too(api):
    with throttle_rates(anon="2/minute"):
        statuses = [api.get("/api/schema/").status_code for _ in range(2)]
        _assert_throttled(api.get("/api/schema/"))
    assert statuses == [200, 200]


def test_valid_credentials_and_other_addresses_are_not_held_back(api, as_key, job):
    with throttle_rates(anon="2/minute"):
        for _ in range(3):
            api.get("/api/jobs")
        assert api.get("/api/jobs").status_code == 429
        assert api.get("/api/jobs", REMOTE_ADDR=ELSEWHERE).status_code == 401
        # X-Forwarded-For is the client's to forge: it does not open a fresh bucket.
        assert api.get("/api/jobs", HTTP_X_FORWARDED_FOR=ELSEWHERE).status_code == 429
        assert as_key("job:read").get("/api/jobs").status_code == 200


@pytest.mark.parametrize(("env", "rate"), [({}, "60/minute"), ({"HOURGLASS_THROTTLE_ANON": "5/second"}, "5/second")])
def test_the_rate_comes_from_the_environment(env, rate):
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['anon'])"
    )
    base = {k: v for k, v in os.environ.items() if k != "HOURGLASS_THROTTLE_ANON"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == rate, result.stderr
