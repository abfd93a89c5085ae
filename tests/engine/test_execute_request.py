"""What the target receives: variables substituted, Idempotency-Key, a verifiable signature."""

from __future__ import annotations

import time

import pytest

from jobs.signing import verify
from tests.engine.execute_support import execute, http_config, make_job, make_run


@pytest.mark.django_db(transaction=True)
def test_it_substitutes_variables_in_url_headers_and_body(team, target):
    job = make_job(
        team,
        target.url("/ok"),
        variables={"region": "eu", "who": "job"},
        main_config={
            "method": "POST",
            "url": target.url("/ok?run={{ run_id }}&region={{region}}&who={{ who }}"),
            "headers": {"X-Slot": "{{ scheduled_for }}", "X-Job": "{{ job.natural_id }}"},
            "body": '{"job": "{{ job.natural_id }}", "who": "{{ who }}", "unknown": "{{ nope }}"}',
        },
    )
    run = make_run(job, variables={"who": "trigger"})
    slot = run.scheduled_for
    run = execute(run)

    [received] = target.received("/ok")
    assert received.method == "POST"
    assert received.query == {"run": str(run.pk), "region": "eu", "who": "trigger"}
    assert received.headers["X-Slot"] == slot.isoformat().replace("+00:00", "Z")
    assert received.headers["X-Job"] == job.natural_id
    assert received.body.decode() == f'{{"job": "{job.natural_id}", "who": "trigger", "unknown": "{{{{ nope }}}}"}}'
    assert run.request["body"] == received.body.decode()
    assert run.request["url"] == target.url(f"/ok?run={run.pk}&region=eu&who=trigger")


@pytest.mark.django_db(transaction=True)
def test_it_sends_the_idempotency_key_user_agent_and_a_signature(team, target):
    job = make_job(team, target.url("/ok"), main_config={"method": "POST", "body": "payload"})
    run = execute(make_run(job))

    [received] = target.received("/ok")
    assert received.headers["Idempotency-Key"] == str(run.pk)
    assert received.headers["User-Agent"] == "Hourglass/0.1"
    signature = received.headers["Hourglass-Signature"]
    assert verify(signature, b"payload", [team.signing_secret])
    assert not verify(signature, b"payload!", [team.signing_secret])
    assert not verify(signature, b"payload", ["whsec_someone-else"])
    assert not verify(signature, b"payload", [team.signing_secret], now=time.time() + 301)


@pytest.mark.django_db(transaction=True)
def test_it_signs_with_both_secrets_during_a_rotation(team, target):
    team.previous_signing_secret, team.signing_secret = team.signing_secret, "whsec_new"
    team.save()
    execute(make_run(make_job(team, target.url("/ok"))))

    signature = target.received("/ok")[0].headers["Hourglass-Signature"]
    assert signature.count("v1=") == 2
    assert verify(signature, b"", ["whsec_new"])
    assert verify(signature, b"", [team.previous_signing_secret])


@pytest.mark.django_db(transaction=True)
def test_the_caller_cannot_override_the_idempotency_key(team, target):
    job = make_job(team, target.url("/ok"), main_config={"headers": {"idempotency-key": "mine", "User-Agent": "own"}})
    run = execute(make_run(job))

    [received] = target.received("/ok")
    assert received.headers["Idempotency-Key"] == str(run.pk)
    assert received.headers["User-Agent"] == "own"


@pytest.mark.django_db(transaction=True)
def test_follow_up_steps_get_their_own_idempotency_key(team, target):
    job = make_job(
        team,
        target.url("/ok?step=main"),
        steps=[{"name": "second", "config": http_config(target.url("/ok?step=second")), "depends_on": ["main"]}],
    )
    run = execute(make_run(job))

    keys = {r.query["step"]: r.headers["Idempotency-Key"] for r in target.received("/ok")}
    assert keys == {"main": str(run.pk), "second": f"{run.pk}:second"}


@pytest.mark.django_db(transaction=True)
def test_a_url_that_is_not_absolute_after_substitution_fails_cleanly(team, target):
    job = make_job(team, target.url("/ok"), retry_limit=2, main_config={"url": "{{ base }}/ok"})
    run = execute(make_run(job, variables={"base": ""}))

    assert (run.end_reason, run.exit_code, run.error) == ("failed", 1, "InvalidURL")
    assert not run.retries.exists()
    assert target.received() == []
