"""The delivery log: every attempt recorded with its error, retries with backoff, a failing or hanging channel
blocking no other; the address policy and the service's own hosts; mail through a real SMTP server."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from alerts import delivery as sender
from alerts.models import Delivery
from alerts.targets import allowed_hosts, guard_for, guarded, instantiate
from alerts.tasks import alerts_sweep
from jobs.engine.ssrf import TargetPolicy
from tests.alerts.conftest import make_channel, make_rule
from tests.alerts.support import alerts_received, hook, run_once, send_published
from tests.jobs.engine.execute_support import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def _failing_and_good(team, target):
    job = make_job(team, target.url("/status/500"))
    bad = make_channel(team, f"json://{target.host}:{target.port}/status/503", name="bad")
    good = make_channel(team, hook(target, "good"), name="good")
    make_rule(team, [bad, good], job=job, events=["failure"])
    run_once(job, target.url("/status/500"))
    return Delivery.objects.get(channel=bad), Delivery.objects.get(channel=good)


def test_a_failing_channel_is_logged_and_retried_with_backoff_and_the_other_is_delivered(
    team, target, published, settings
):
    settings.HOURGLASS_ALERT_BACKOFF_SECONDS = 30
    settings.HOURGLASS_ALERT_MAX_ATTEMPTS = 3
    bad, good = _failing_and_good(team, target)
    before = timezone.now()
    send_published(published)
    bad.refresh_from_db()
    good.refresh_from_db()
    assert (good.status, good.attempts, good.error) == ("delivered", 1, "")
    assert len(alerts_received(target, "good")) == 1
    assert (bad.status, bad.attempts) == ("pending", 1)
    assert "503" in bad.error
    assert before + timedelta(seconds=29) <= bad.next_attempt_at <= timezone.now() + timedelta(seconds=31)

    # Not due yet: the sweep leaves it; once due it is published, and the second wait doubles.
    assert alerts_sweep.apply().get() == 0
    Delivery.objects.filter(pk=bad.pk).update(next_attempt_at=timezone.now())
    assert alerts_sweep.apply().get() == 1
    send_published(published)
    bad.refresh_from_db()
    assert (bad.status, bad.attempts) == ("pending", 2)
    assert bad.next_attempt_at >= timezone.now() + timedelta(seconds=59)

    Delivery.objects.filter(pk=bad.pk).update(next_attempt_at=timezone.now())
    sender.deliver([str(bad.pk)])
    bad.refresh_from_db()
    assert (bad.status, bad.attempts, bad.next_attempt_at) == ("failed", 3, None)
    assert len(target.received("/status/503")) == 3
    assert len(alerts_received(target, "good")) == 1  # never sent twice


def test_a_hanging_channel_holds_only_its_own_delivery(team, target, published, settings):
    settings.HOURGLASS_ALERT_TIMEOUT_SECONDS = 1
    job = make_job(team, target.url("/status/500"))
    hanging = make_channel(team, f"json://{target.host}:{target.port}/hang", name="hanging")
    good = [make_channel(team, hook(target, f"good{i}"), name=f"good{i}") for i in range(3)]
    make_rule(team, [hanging, *good], job=job, events=["failure"])
    run_once(job, target.url("/status/500"))
    started = time.monotonic()
    send_published(published)
    elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed  # the sends run side by side: one timeout, not four
    assert sorted(Delivery.objects.values_list("channel_name", "status")) == [
        ("good0", "delivered"),
        ("good1", "delivered"),
        ("good2", "delivered"),
        ("hanging", "pending"),
    ]


def test_a_blocked_destination_is_refused_and_logged_as_a_failed_attempt(team, target, published, settings):
    job = make_job(team, target.url("/status/500"))
    channel = make_channel(team, hook(target, "private"))
    make_rule(team, [channel], job=job, events=["failure"])
    run_once(job, target.url("/status/500"))  # the job's own request reaches the target: loopback allowed so far
    settings.HOURGLASS_ALLOW_LOOPBACK = False
    send_published(published)
    attempt = Delivery.objects.get(channel=channel)
    assert attempt.status == "pending"
    assert attempt.attempts == 1
    assert attempt.error == "Blocked: 127.0.0.1, a loopback address"
    assert alerts_received(target, "private") == []


def test_a_host_name_that_resolves_to_a_private_address_is_refused(team, target, settings):
    settings.HOURGLASS_ALLOW_LOOPBACK = False
    outcome = sender.send(f"json://localhost:{target.port}/ok/named", "t", "b")
    assert not outcome.ok
    assert outcome.error.startswith("Blocked: localhost resolves to ")
    assert alerts_received(target, "named") == []


def test_an_allow_listed_network_lets_a_delivery_through(team, target, settings):
    settings.HOURGLASS_ALLOW_LOOPBACK = False
    settings.HOURGLASS_ALLOWED_TARGETS = ["127.0.0.0/8"]
    assert sender.send(hook(target, "listed"), "t", "b").ok
    assert len(alerts_received(target, "listed")) == 1


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7", "hooks.slack.com"),
        ("pagerduty://integration@apikey", "events.pagerduty.com"),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord.com"),
        ("tgram://123456789:abcdefg_hijklmnop/12315544", "api.telegram.org"),
        ("opsgenie://apikey/@user", "api.opsgenie.com"),
    ],
)
def test_a_vendor_channel_reaches_its_vendors_hosts_only(url, host):
    plugin = instantiate(url)
    hosts = allowed_hosts(plugin)
    assert host in hosts
    assert "127.0.0.1" not in hosts
    assert "example.com" not in hosts


def test_a_connection_to_another_host_during_a_vendor_delivery_is_refused(target):
    """Whatever a vendor plugin would call, a connection to a host that is not the vendor's never opens."""
    plugin = instantiate("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7")
    guard = guard_for(plugin, "slack", TargetPolicy.from_entries([], allow_loopback=True))
    with guarded(guard), pytest.raises(requests.ConnectionError):
        requests.post(target.url("/ok/stolen"), json={}, timeout=2)
    assert guard.blocked == ["Blocked: 127.0.0.1 is not a host of the slack:// service"]
    assert target.received("/ok/stolen") == []
    # Outside a delivery, requests is untouched.
    assert requests.get(target.url("/ok/plain"), timeout=2).status_code == 200


def test_a_generic_webhook_reaches_its_own_host_only(target):
    plugin = instantiate(hook(target, "x"))
    assert allowed_hosts(plugin) == frozenset({"127.0.0.1"})


def test_mail_goes_through_a_real_smtp_server(team, target, published, smtp_server):
    job = make_job(team, target.url("/status/500"))
    make_rule(team, [make_channel(team, smtp_server.url(), name="mail")], job=job, events=["failure"])
    run_once(job, target.url("/status/500"))
    send_published(published)
    (message,) = smtp_server.wait_for(1)
    assert message["Subject"] == f"Hourglass: acme/{job.natural_id} failed"
    assert message["To"] == "ops@example.com"
    assert Delivery.objects.get().status == "delivered"


def test_mail_to_a_blocked_smtp_server_is_refused(team, smtp_server, settings):
    settings.HOURGLASS_ALLOW_LOOPBACK = False
    outcome = sender.send(smtp_server.url(), "t", "b")
    assert (outcome.ok, outcome.error) == (False, "Blocked: 127.0.0.1, a loopback address")
    assert smtp_server.messages == []


def test_an_error_never_shows_the_urls_secrets(team, target):
    url = f"json://alertbot:hunter2secret@{target.host}:{target.port}/status/500"
    outcome = sender.send(url, "t", "b")
    assert not outcome.ok
    assert "hunter2secret" not in outcome.error
    assert "alertbot" not in outcome.error
    assert target.received("/status/500")[0].headers["Authorization"].startswith("Basic ")


def test_a_worker_that_stopped_mid_send_leaves_a_lapsed_claim_the_sweep_hands_back(team, target, published):
    channel = make_channel(team, hook(target, "lapsed"))
    now = timezone.now()
    stuck = Delivery.objects.create(
        team=team, channel=channel, channel_name=channel.name, event="failure", severity="error", title="t",
        body="b", status="sending", attempts=1, next_attempt_at=now - timedelta(seconds=1), created_at=now,
    )  # fmt: skip
    assert alerts_sweep.apply().get() == 1
    assert published == [[str(stuck.pk)]]
    send_published(published)
    stuck.refresh_from_db()
    assert (stuck.status, stuck.attempts) == ("delivered", 2)


def test_a_duplicate_message_sends_nothing_twice(team, target, published):
    channel = make_channel(team, hook(target, "dup"))
    now = timezone.now()
    once = Delivery.objects.create(
        team=team, channel=channel, channel_name=channel.name, event="failure", severity="error", title="t",
        body="b", next_attempt_at=now, created_at=now,
    )  # fmt: skip
    sender.deliver([str(once.pk)])
    sender.deliver([str(once.pk)])
    assert len(alerts_received(target, "dup")) == 1


def test_the_log_of_a_failed_delivery_names_no_secret(team, target, caplog):
    channel = make_channel(team, f"json://alertbot:hunter2secret@{target.host}:{target.port}/status/500")
    now = timezone.now()
    failing = Delivery.objects.create(
        team=team, channel=channel, channel_name=channel.name, event="failure", severity="error", title="t",
        body="b", next_attempt_at=now, created_at=now,
    )  # fmt: skip
    with caplog.at_level("DEBUG"):
        sender.deliver([str(failing.pk)])
    assert "alert delivery failed" in caplog.text
    assert "hunter2secret" not in caplog.text
