"""A redirect that is not followed ends the run with a reason that says why, not a bare status or class."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.jobs.engine.execute_support import execute, make_job, make_run, steps_of

pytestmark = pytest.mark.django_db(transaction=True)


def _follow(team, url: str):
    return execute(make_run(make_job(team, url, follow_redirects=True, retry_limit=2)))


def test_a_redirect_loop_ends_with_too_many_redirects(team, target):
    run = _follow(team, target.url("/loop"))

    assert (run.end_reason, run.exit_code, run.http_status) == ("failed", 1, 302)
    assert run.error == "too many redirects (3)"
    message = steps_of(run)["main"].message
    assert f"(redirected 3x to {target.url('/loop')}) failed after " in message
    assert message.endswith(": too many redirects (3)")
    assert len(target.received("/loop")) == 4  # the first request and three followed hops
    assert not run.retries.exists()  # the loop will still be there on a retry


@pytest.mark.parametrize(
    ("location", "scheme"),
    [("file:///etc/passwd", "file"), ("javascript:alert(1)", "javascript"), ("ftp://example.com/x", "ftp")],
)
def test_a_redirect_to_another_scheme_ends_with_unsupported_scheme(team, target, location, scheme):
    run = _follow(team, target.url(f"/redirect?to={quote(location)}"))

    assert (run.end_reason, run.exit_code, run.http_status) == ("failed", 1, 302)
    assert run.error == "redirect to an unsupported scheme"
    message = steps_of(run)["main"].message
    assert message.endswith(f": redirect to an unsupported scheme ({scheme}:)")
    assert "redirected" not in message  # nothing was followed
    assert len(target.received()) == 1
    assert not run.retries.exists()


@pytest.mark.parametrize(
    ("location", "error"),
    [("http://[::1", "redirect to an invalid URL"), ("http://:80/", "redirect to an invalid URL")],
)
def test_a_redirect_to_a_malformed_url_says_so(team, target, location, error):
    run = _follow(team, target.url(f"/location?to={quote(location)}"))

    assert (run.end_reason, run.exit_code, run.error) == ("failed", 1, error)
    assert len(target.received()) == 1
