"""The SSRF guard: only global addresses, literal IPs in any spelling, every redirect hop checked."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from yarl import URL

from jobs.engine.ssrf import BlockedError, ConnectionGuard, TargetPolicy, non_global_reason, parse_ip_literal
from tests.jobs.engine.execute_support import execute, make_job, make_run, steps_of

STRICT = TargetPolicy()


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("::1", "::1"),
        ("example.com", None),
        ("1.example", None),
    ],
)
def test_it_parses_ip_literals_in_every_spelling(host, address):
    parsed = parse_ip_literal(host)
    assert (str(parsed) if parsed else None) == address


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fc00::1",
        "fd12::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
    ],
)
def test_it_rejects_every_non_global_address(address):
    assert non_global_reason(ipaddress.ip_address(address)) is not None
    with pytest.raises(BlockedError):
        STRICT.check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_it_allows_global_addresses(address):
    assert non_global_reason(ipaddress.ip_address(address)) is None
    STRICT.check_address(ipaddress.ip_address(address))


def test_the_allow_list_takes_networks_and_host_names():
    policy = TargetPolicy.from_entries(["10.0.0.0/8", "echo.internal", "*.corp.example"], allow_loopback=False)

    policy.check_address(ipaddress.ip_address("10.2.3.4"))
    policy.check_address(ipaddress.ip_address("::ffff:10.2.3.4"))
    with pytest.raises(BlockedError):
        policy.check_address(ipaddress.ip_address("192.168.0.1"))
    assert policy.host_name_allowed("echo.internal")
    assert policy.host_name_allowed("api.corp.example")
    assert not policy.host_name_allowed("corp.example.evil.com")


def test_loopback_is_allowed_only_when_the_setting_says_so():
    TargetPolicy(allow_loopback=True).check_address(ipaddress.ip_address("::ffff:127.0.0.1"))
    with pytest.raises(BlockedError):
        TargetPolicy(allow_loopback=True).check_address(ipaddress.ip_address("10.0.0.1"))


def test_check_url_refuses_other_schemes_and_literal_loopback():
    for url in ("ftp://example.com/", "file:///etc/passwd", "http://0x7f.1/", "http://[::ffff:127.0.0.1]/"):
        with pytest.raises(BlockedError):
            STRICT.check_url(URL(url))
    STRICT.check_url(URL("https://example.com/"))


def test_the_socket_factory_refuses_to_open_a_socket_to_a_blocked_address():
    guard = ConnectionGuard(STRICT)

    with pytest.raises(BlockedError):
        guard.socket_factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)))
    guard.check_resolved("echo.internal", ["8.8.8.8"])
    guard.socket_factory((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 80))).close()


@pytest.fixture
def strict(settings):
    settings.HOURGLASS_ALLOW_LOOPBACK = False
    settings.HOURGLASS_ALLOWED_TARGETS = []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::ffff:127.0.0.1]", "0x7f.1", "2130706433", "127.1", "localhost", "[::1]"]
)
def test_it_blocks_loopback_targets_without_sending_anything(team, target, strict, host):
    run = execute(make_run(make_job(team, f"http://{host}:{target.port}/ok", retry_limit=3)))

    assert (run.end_reason, run.exit_code, run.http_status) == ("blocked", 125, None)
    assert run.error.startswith("Blocked: ")
    assert "loopback" in run.error
    main = steps_of(run)["main"]
    assert (main.status, main.exit_code, main.result_key) == ("error", 125, "job:status.blocked")
    assert target.received() == []
    assert not run.retries.exists()  # a blocked target stays blocked


@pytest.mark.django_db(transaction=True)
def test_the_allow_list_lets_a_loopback_target_through(team, target, strict, settings):
    settings.HOURGLASS_ALLOWED_TARGETS = ["127.0.0.0/8"]

    run = execute(make_run(make_job(team, target.url("/ok"))))

    assert run.end_reason == "success"


@pytest.mark.django_db(transaction=True)
def test_it_blocks_a_redirect_to_the_metadata_address(team, target):
    url = target.url("/redirect?to=http://169.254.169.254/latest/meta-data/")
    run = execute(make_run(make_job(team, url, follow_redirects=True)))

    assert (run.end_reason, run.exit_code) == ("blocked", 125)
    assert run.error == "Blocked: 169.254.169.254, a link-local address"
    assert len(target.received("/redirect")) == 1


@pytest.mark.django_db(transaction=True)
def test_each_redirect_hop_is_checked_against_the_allow_list(team, target, strict, settings):
    # The target itself is allowed; 0.0.0.0 (which reaches this host on Linux) is not.
    settings.HOURGLASS_ALLOWED_TARGETS = ["127.0.0.1/32"]
    url = target.url(f"/redirect?to=http://0.0.0.0:{target.port}/ok")
    run = execute(make_run(make_job(team, url, follow_redirects=True)))

    assert (run.end_reason, run.error) == ("blocked", "Blocked: 0.0.0.0, an unspecified ('this network') address")
    assert [r.path for r in target.received()] == ["/redirect"]


@pytest.mark.django_db(transaction=True)
def test_it_follows_at_most_three_redirects_when_allowed(team, target):
    def hop(to: str) -> str:
        return target.url(f"/redirect?to={to}")

    two = execute(make_run(make_job(team, hop(hop(target.url("/ok"))), follow_redirects=True)))
    assert (two.end_reason, two.http_status) == ("success", 200)
    assert f"(redirected 2x to {target.url('/ok')})" in steps_of(two)["main"].message

    four = execute(make_run(make_job(team, hop(hop(hop(hop(target.url("/ok"))))), follow_redirects=True)))
    assert (four.end_reason, four.http_status, four.error) == ("failed", 302, "too many redirects (3)")


@pytest.mark.django_db(transaction=True)
def test_it_does_not_follow_redirects_unless_the_job_allows_it(team, target):
    run = execute(make_run(make_job(team, target.url("/redirect?to=http://169.254.169.254/"))))

    assert (run.end_reason, run.http_status, run.error) == ("failed", 302, "HTTP 302")


@pytest.mark.django_db(transaction=True)
def test_a_name_resolving_to_a_private_address_is_blocked_before_any_socket(team, strict, monkeypatch):
    """DNS rebinding-style: an innocent-looking name whose answer is private. No socket is opened to it."""
    real_getaddrinfo = socket.getaddrinfo

    def fake_getaddrinfo(host, *args, **kwargs):
        if host == "intranet.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", 80))]
        return real_getaddrinfo(host, *args, **kwargs)

    opened = []
    real_socket = socket.socket

    class CountingSocket(real_socket):
        def connect(self, address):  # pragma: no cover - must not be reached
            opened.append(address)
            return super().connect(address)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(socket, "socket", CountingSocket)
    run = execute(make_run(make_job(team, "http://intranet.example/ok")))
    assert run.end_reason == "blocked"
    assert "10.20.30.40" in run.error
    assert not [a for a in opened if a[0] == "10.20.30.40"]
