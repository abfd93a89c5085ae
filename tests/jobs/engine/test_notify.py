"""Notifications run as steps: email through Django's backend, webhooks with a JSON summary."""

from __future__ import annotations

import json

import pytest

from jobs.engine.notify import decide
from tests.jobs.engine.execute_support import execute, http_config, make_job, make_run, steps_of

RECIPIENTS = ["ops@example.com", "dev@example.com", "boss@example.com"]


def email_step(**config):
    return {
        "name": "mail-ops",
        "kind": "email",
        "run_if": "on_failure",
        "depends_on": ["main"],
        "config": {"recipients": RECIPIENTS, "subject": "Hourglass: {{ job.natural_id }} {{ outcome }}", **config},
    }


def test_decide_counts_consecutive_failures_including_this_one():
    config = {"after_failures": 3}

    assert not decide(config, failed=True, previous_failed=(True,)).send
    assert decide(config, failed=True, previous_failed=(True, True, False)).send
    assert not decide(config, failed=True, previous_failed=(True, False, True)).send
    assert decide({"on_recovery": True}, failed=False, previous_failed=(True,)).outcome == "recovered"


@pytest.mark.django_db(transaction=True)
def test_it_emails_after_two_consecutive_failures_and_on_recovery(team, target, mailoutbox):
    url = target.url("/sequence/mail?codes=500,500,500,200")
    job = make_job(team, url, steps=[email_step(after_failures=2, on_recovery=True)])

    first = execute(make_run(job))
    assert first.end_reason == "failed"
    assert mailoutbox == []
    step = steps_of(first)["mail-ops"]
    assert (step.status, step.key, step.opts) == ("skipped", "job:actions.send_email", {"name": "mail-ops"})
    assert step.message == "Not sent: 1 of 2 consecutive failures"

    second = execute(make_run(job))
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == RECIPIENTS
    assert mail.subject == f"Hourglass: {job.natural_id} failed"
    assert "HTTP 500" in mail.body
    assert str(second.pk) in mail.body
    assert "Consecutive failures: 2" in mail.body
    step = steps_of(second)["mail-ops"]
    assert (step.status, step.message, step.exit_code) == ("done", "Email sent to 3 recipients", 0)

    execute(make_run(job))  # a third failure still notifies
    assert len(mailoutbox) == 2

    recovered = execute(make_run(job))
    assert recovered.end_reason == "success"
    assert len(mailoutbox) == 3
    assert mailoutbox[-1].subject == f"Hourglass: {job.natural_id} recovered"

    quiet = execute(make_run(job))  # success after success: nothing to say
    assert len(mailoutbox) == 3
    assert steps_of(quiet)["mail-ops"].status == "skipped"


@pytest.mark.django_db(transaction=True)
def test_a_webhook_step_posts_a_signed_json_summary(team, target):
    webhook = {
        "name": "hook",
        "kind": "webhook",
        "run_if": "on_failure",
        "depends_on": ["main"],
        "config": {**http_config(target.url("/ok?hook=1")), "after_failures": 1},
    }
    job = make_job(team, target.url("/status/502"), steps=[webhook])
    run = execute(make_run(job))

    [received] = target.received("/ok")
    payload = json.loads(received.body)
    assert received.method == "POST"
    assert received.headers["Content-Type"] == "application/json"
    assert "Hourglass-Signature" in received.headers
    assert payload["event"] == "run.failed"
    assert payload["job"]["natural_id"] == job.natural_id
    assert (payload["run"]["id"], payload["run"]["http_status"], payload["run"]["error"]) == (
        str(run.pk),
        502,
        "HTTP 502",
    )
    step = steps_of(run)["hook"]
    assert (step.status, step.key, step.http_status) == ("done", "job:actions.webhook", 200)


@pytest.mark.django_db(transaction=True)
def test_a_failing_notification_does_not_change_the_runs_verdict(team, target, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    run = execute(make_run(make_job(team, target.url("/status/500"), steps=[email_step()])))

    assert (run.end_reason, run.error) == ("failed", "HTTP 500")
    step = steps_of(run)["mail-ops"]
    assert step.status == "error"
    assert step.message.startswith("Email not sent: ")
