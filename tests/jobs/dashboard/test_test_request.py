""" "Send a test request" in the job form: one real request through the SSRF guard, no run recorded."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from history.models import Run
from jobs.crypto import decrypt_value
from jobs.engine.signing import verify
from jobs.services import job_update, steps_from_input
from tests.jobs.dashboard.forms_support import job_form

NEW = reverse("jobs:test-request-new")


def _edit_url(job) -> str:
    return reverse("jobs:test-request", kwargs={"job_id": job.pk})


def test_it_sends_the_first_http_step_as_typed_and_shows_status_latency_and_body(as_user, editor, team, target):
    data = job_form(
        [
            {
                "method": "POST",
                "url": target.url("/status/418?region={{region}}&job={{job.natural_id}}"),
                "headers": "X-Run: {{ run_id }}",
                "body": '{"who": "{{ region }}"}',
            }
        ]
    )
    response = as_user(editor).post(NEW, data)
    assert response.status_code == 200
    body = response.content.decode()
    [received] = target.received("/status/418")
    assert received.method == "POST"
    assert received.query == {"region": "eu", "job": "billing-sync"}  # variables as at run time
    assert received.body == b'{"who": "eu"}'
    assert re.fullmatch(r"[0-9a-f-]{36}", received.headers["X-Run"])
    assert verify(
        received.headers["Hourglass-Signature"],
        method="POST",
        url=received.url,
        body=received.body,
        secrets=[decrypt_value(team.signing_secret)],
    )
    assert re.search(r"data-test-status><span class=\"badge failed\">418</span>", body)
    assert re.search(r"data-test-latency>\d+ ms<", body)
    assert "{&quot;status&quot;: 418}" in body  # the body, escaped
    assert "data-test-verdict>it would fail: HTTP 418" in body  # by the form's success rule (200-299)
    assert not Run.objects.exists()


def test_a_long_body_is_truncated_and_markup_is_escaped(as_user, editor, target):
    response = as_user(editor).post(NEW, job_form([{"url": target.url("/bytes/5000")}]))
    shown = re.search(r"data-test-body>([^<]*)</pre>", response.content.decode()).group(1)
    assert shown == "x" * 2048 + "...[truncated]"
    assert "data-test-verdict>it would succeed" in response.content.decode()
    response = as_user(editor).post(NEW, job_form([{"url": target.url("/redirect?to=<script>alert(1)</script>")}]))
    assert "<script>alert(1)" not in response.content.decode()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "Blocked: 169.254.169.254, a link-local address"),
        ("http://10.0.0.7/", "Blocked: 10.0.0.7, a private address"),
    ],
)
def test_a_blocked_address_is_refused_with_the_guards_message(as_user, editor, url, reason):
    body = as_user(editor).post(NEW, job_form([{"url": url}])).content.decode()
    assert re.search(r"data-test-error><strong>No response</strong> after \d+ ms: " + re.escape(reason), body)


def test_loopback_is_refused_when_the_guard_forbids_it(as_user, editor, target, settings):
    settings.HOURGLASS_ALLOW_LOOPBACK = False
    body = as_user(editor).post(NEW, job_form([{"url": target.url("/ok")}])).content.decode()
    assert "Blocked: 127.0.0.1, a loopback address" in body
    assert target.received() == []


def test_a_placeholder_sends_the_stored_secret_only_to_the_same_origin(as_user, editor, job, target):
    job_update(
        job=job,
        secret_headers=["X-Api-Token"],
        steps=steps_from_input(url=None, request={"url": target.url("/ok"), "headers": {"X-Api-Token": "s3cret"}}),
    )
    client = as_user(editor)
    same = job_form(
        [{"url": target.url("/ok?again=1"), "headers": "X-Api-Token: [redacted]"}], natural_id=job.natural_id
    )
    body = client.post(_edit_url(job), same).content.decode()
    assert target.received("/ok")[0].headers["X-Api-Token"] == "s3cret"
    assert "s3cret" not in body

    target.clear()
    moved = job_form(
        [{"url": target.url("/ok").replace("127.0.0.1", "localhost"), "headers": "X-Api-Token: [redacted]"}]
    )
    body = client.post(_edit_url(job), moved).content.decode()
    assert "X-Api-Token" not in target.received("/ok")[0].headers
    assert "Left out the secret header X-Api-Token" in body


def test_the_form_has_the_button_and_bad_input_is_reported_without_sending(as_user, editor, job, target):
    client = as_user(editor)
    page = client.get(reverse("jobs:edit", kwargs={"job_id": job.pk})).content.decode()
    assert f'hx-post="{_edit_url(job)}"' in page
    assert f'hx-post="{NEW}"' in client.get(reverse("jobs:create")).content.decode()
    body = client.post(NEW, job_form([{"url": "ftp://example.com/"}])).content.decode()
    assert "Not sent." in body
    assert "URL: Enter an absolute http:// or https:// URL" in body
    assert (
        "The job has no HTTP step"
        in client.post(NEW, job_form([{"kind": "email", "recipients": "a@example.com"}])).content.decode()
    )


@pytest.mark.parametrize("persona", ["viewer", "operator"])
def test_roles_that_cannot_edit_get_403(request, as_user, job, target, persona):
    client = as_user(request.getfixturevalue(persona))
    assert client.post(NEW, job_form([{"url": target.url("/ok")}])).status_code == 403
    assert client.post(_edit_url(job), job_form([{"url": target.url("/ok")}])).status_code == 403
    assert target.received() == []


def test_an_outsider_gets_404_for_another_teams_job(as_user, outsider, job, target):
    assert as_user(outsider).post(_edit_url(job), job_form([{"url": target.url("/ok")}])).status_code == 404
    assert target.received() == []


def test_a_kept_secret_does_not_follow_a_redirect_to_another_origin(as_user, editor, job, target):
    job_update(
        job=job,
        secret_headers=["X-Custom"],
        steps=steps_from_input(url=None, request={"url": target.url("/redirect"), "headers": {"X-Custom": "s3cret"}}),
    )
    elsewhere = target.url("/ok").replace("127.0.0.1", "localhost")
    data = job_form(
        [{"url": target.url(f"/redirect?to={elsewhere}"), "headers": "X-Custom: [redacted]"}],
        natural_id=job.natural_id,
        secret_headers="X-Custom",
        follow_redirects="on",
    )
    body = as_user(editor).post(_edit_url(job), data).content.decode()
    first, second = target.received()
    assert (first.path, first.headers["X-Custom"]) == ("/redirect", "s3cret")
    assert second.path == "/ok"
    assert "X-Custom" not in second.headers
    assert "Redirects</dt><dd>1" in body
