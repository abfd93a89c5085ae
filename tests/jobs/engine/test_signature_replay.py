"""Signature v2 binds the method and the URL: a request captured by one target verifies at no other."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from jobs.crypto import decrypt_value
from jobs.engine.execute import execute_runs
from jobs.engine.signing import verify
from tests.jobs.engine.execute_support import make_job, make_run

README = Path(__file__).resolve().parents[3] / "README.md"


def _fields(header: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.partition("=")
        fields.setdefault(name, []).append(value)
    return fields


def readme_verifier() -> Any:
    """The `verified` function the README shows targets, run as a target would run it."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    [code] = [block for block in blocks if "def verified(" in block]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the project's own README
    return namespace["verified"]


@pytest.mark.django_db(transaction=True)
def test_two_jobs_sent_in_the_same_second_get_different_v2_signatures(team, target):
    runs = [make_run(make_job(team, target.url(f"/ok?tenant={name}"), natural_id=name)) for name in ("a", "b")]
    with time_machine.travel(datetime(2026, 11, 23, 12, 0, 0, 250000, tzinfo=UTC), tick=False):
        execute_runs([str(run.pk) for run in runs])

    first, second = (_fields(r.headers["Hourglass-Signature"]) for r in target.received("/ok"))
    assert first["t"] == second["t"]
    assert first["v1"] == second["v1"]  # v1 signs only t and the (empty) body: the replay of finding 6
    assert first["v2"] != second["v2"]


@pytest.mark.django_db(transaction=True)
def test_a_captured_request_does_not_verify_at_another_target_or_with_another_method(team, target):
    run = make_run(make_job(team, target.url("/ok?tenant=a"), main_config={"method": "POST", "body": "x"}))
    execute_runs([str(run.pk)])
    [captured] = target.received("/ok")
    header, secrets = captured.headers["Hourglass-Signature"], [decrypt_value(team.signing_secret)]

    assert verify(header, method="POST", url=captured.url, body=b"x", secrets=secrets)
    assert not verify(header, method="POST", url=target.url("/ok?tenant=b"), body=b"x", secrets=secrets)
    assert not verify(header, method="PUT", url=captured.url, body=b"x", secrets=secrets)


@pytest.mark.django_db(transaction=True)
def test_the_readme_verifier_accepts_a_real_request(team, target):
    url = target.url("/ok?tenant=a%2Fb&note=caf%C3%A9&space=a+b")
    run = make_run(make_job(team, url, main_config={"method": "POST", "body": '{"report": "nightly"}'}))
    execute_runs([str(run.pk)])
    [received] = target.received("/ok")
    verified = readme_verifier()
    header = received.headers["Hourglass-Signature"]

    assert verified(header, received.method, received.url, received.body, decrypt_value(team.signing_secret))
    assert not verified(
        header, received.method, target.url("/ok?tenant=other"), received.body, decrypt_value(team.signing_secret)
    )
    assert not verified(header, received.method, received.url, received.body + b" ", decrypt_value(team.signing_secret))
    assert not verified(header, received.method, received.url, received.body, "whsec_someone-else")


@pytest.mark.django_db(transaction=True)
def test_each_redirect_hop_is_signed_for_its_own_url(team, target):
    final = target.url("/ok?hop=2")
    run = make_run(make_job(team, target.url(f"/redirect?to={final}"), follow_redirects=True))
    execute_runs([str(run.pk)])

    verified = readme_verifier()
    hops = target.received()
    assert [hop.path for hop in hops] == ["/redirect", "/ok"]
    for hop in hops:
        assert verified(
            hop.headers["Hourglass-Signature"], hop.method, hop.url, hop.body, decrypt_value(team.signing_secret)
        )
    assert not verified(hops[0].headers["Hourglass-Signature"], "GET", final, b"", decrypt_value(team.signing_secret))
