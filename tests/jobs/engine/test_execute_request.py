"""What the target receives: variables substituted, Idempotency-Key, a verifiable signature."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone

from jobs.crypto import decrypt_value
from jobs.engine.signing import verify, verify_v1
from jobs.models import Team
from jobs.signing_secrets import signing_secret_rotate
from tests.jobs.engine.execute_support import execute, http_config, make_job, make_run


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
    request = {"method": "POST", "url": target.url("/ok"), "body": b"payload"}
    secret = decrypt_value(team.signing_secret)
    assert verify(signature, **request, secrets=[secret])
    assert not verify(signature, **{**request, "body": b"payload!"}, secrets=[secret])
    assert not verify(signature, **request, secrets=["whsec_someone-else"])
    assert not verify(signature, **request, secrets=[secret], now=time.time() + 301)
    assert verify_v1(signature, b"payload", [secret])  # deprecated, still sent for one release


@pytest.mark.django_db(transaction=True)
def test_it_signs_with_both_secrets_during_a_rotation(team, target):
    old = decrypt_value(team.signing_secret)
    new = signing_secret_rotate(team=team).current
    execute(make_run(make_job(team, target.url("/ok"))))

    signature = target.received("/ok")[0].headers["Hourglass-Signature"]
    assert (signature.count("v1="), signature.count("v2=")) == (2, 2)
    assert new != old
    for secret in (new, old):
        assert verify(signature, method="GET", url=target.url("/ok"), body=b"", secrets=[secret])


@pytest.mark.django_db(transaction=True)
def test_the_old_secret_stops_signing_when_its_grace_period_ends(team, target):
    old = decrypt_value(team.signing_secret)
    new = signing_secret_rotate(team=team, grace=timedelta(hours=1)).current
    Team.objects.filter(pk=team.pk).update(previous_signing_secret_expires_at=timezone.now() - timedelta(seconds=1))
    execute(make_run(make_job(team, target.url("/ok"))))

    signature = target.received("/ok")[0].headers["Hourglass-Signature"]
    assert (signature.count("v1="), signature.count("v2=")) == (1, 1)
    assert verify(signature, method="GET", url=target.url("/ok"), body=b"", secrets=[new])
    assert not verify(signature, method="GET", url=target.url("/ok"), body=b"", secrets=[old])


@pytest.mark.django_db(transaction=True)
def test_a_secret_stored_in_clear_text_before_sealing_still_signs(team, target):
    Team.objects.filter(pk=team.pk).update(signing_secret="whsec_from-before")
    execute(make_run(make_job(team, target.url("/ok"))))

    signature = target.received("/ok")[0].headers["Hourglass-Signature"]
    assert verify(signature, method="GET", url=target.url("/ok"), body=b"", secrets=["whsec_from-before"])


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


@pytest.mark.django_db(transaction=True)
def test_a_secret_that_cannot_be_opened_leaves_the_request_unsigned_instead_of_stopping_it(team, target, settings):
    settings.HOURGLASS_ENCRYPTION_KEY = Fernet.generate_key().decode()  # not the key the secret was sealed with
    run = execute(make_run(make_job(team, target.url("/ok"))))

    assert run.end_reason == "success"
    assert re.fullmatch(r"t=\d+", target.received("/ok")[0].headers["Hourglass-Signature"])
