from __future__ import annotations

import pytest

from jobs.redact import REDACTED, redact_headers, redact_request, redact_url
from tests.jobs.engine.execute_support import execute, make_job, make_run


def test_it_redacts_credentials_and_secret_looking_headers():
    headers = {
        "Authorization": "Bearer abc",
        "Cookie": "session=1",
        "Proxy-Authorization": "Basic x",
        "X-Api-Key": "k",
        "X-Auth-Token": "t",
        "X-Client-Secret": "s",
        "X-Password": "p",
        "Idempotency-Key": "run-id",
        "Content-Type": "application/json",
        "X-Tenant": "acme",
    }

    clean = redact_headers(headers, extra=["x-tenant"])

    for name in ("Authorization", "Cookie", "Proxy-Authorization", "X-Api-Key", "X-Auth-Token", "X-Client-Secret"):
        assert clean[name] == REDACTED
    assert clean["X-Password"] == REDACTED
    assert clean["X-Tenant"] == REDACTED  # the job marks it secret
    assert clean["Idempotency-Key"] == "run-id"
    assert clean["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer abc"  # the input is left alone


def test_it_redacts_passwords_and_tokens_in_urls():
    assert redact_url("https://user:pw@example.com/x?token=abc&page=2") == (
        f"https://user:{REDACTED}@example.com/x?token={REDACTED}&page=2"
    )
    assert redact_url("https://example.com/x?page=2") == "https://example.com/x?page=2"


def test_it_redacts_a_request_snapshot():
    snapshot = {"method": "GET", "url": "https://example.com/", "headers": {"X-Api-Key": "k"}, "body": ""}

    assert redact_request(snapshot)["headers"] == {"X-Api-Key": REDACTED}


@pytest.mark.django_db(transaction=True)
def test_the_recorded_request_hides_secrets_the_target_still_gets(team, target):
    headers = {"Authorization": "Bearer live", "X-Api-Key": "k-1", "X-Shop": "s-1", "Accept": "text/plain"}
    job = make_job(team, target.url("/ok"), secret_headers=["X-Shop"], main_config={"headers": headers})
    run = execute(make_run(job))

    recorded = run.request["headers"]
    assert recorded["Authorization"] == recorded["X-Api-Key"] == recorded["X-Shop"] == REDACTED
    assert recorded["Accept"] == "text/plain"
    assert recorded["Idempotency-Key"] == str(run.pk)
    [received] = target.received("/ok")
    assert (received.headers["Authorization"], received.headers["X-Api-Key"], received.headers["X-Shop"]) == (
        "Bearer live",
        "k-1",
        "s-1",
    )
