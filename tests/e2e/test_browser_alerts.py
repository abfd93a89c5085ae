"""Alerting in real Chromium against a live server: an admin adds a channel and sends it a test alert (through
Apprise to the local webhook target), then reads a job's incidents and follows an alert to its incident."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alerts.models import Channel, Delivery, Incident
from tests.alerts.conftest import make_channel, make_rule
from tests.e2e import test_browser_dashboard as dashboard
from tests.e2e.test_browser_dashboard import login, screenshot
from tests.factories import JobFactory

pytestmark = pytest.mark.e2e

browser = dashboard.browser
page = dashboard.page


def test_an_admin_adds_a_channel_and_sends_a_test_alert(page, team, owner, target):
    login(page, "alice", "/alerts/")
    expect(page.locator("h1")).to_have_text("Alerts")
    page.fill("#id_name", "Ops webhook")
    page.fill("#id_url", f"json://bot:t0ps3cret@{target.host}:{target.port}/ok/browser")
    page.select_option("#id_min_severity", "warning")
    page.get_by_role("button", name="Add the channel").click()
    expect(page.locator(".messages")).to_contain_text("Added the channel “Ops webhook”")
    row = page.locator('tr[data-channel="Ops webhook"]')
    expect(row).to_contain_text("json://[redacted]")
    expect(row).to_contain_text("Warning")
    assert "t0ps3cret" not in page.content()
    assert Channel.objects.get().url.startswith("enc:v1:")

    row.get_by_role("button", name="Send a test alert").click()
    result = page.locator("[data-test-result]")
    expect(result).to_have_attribute("data-test-result", "delivered")
    expect(result).to_contain_text("The service accepted the test alert")
    (received,) = target.received("/ok/browser")
    assert json.loads(received.body)["title"] == "Hourglass: test alert"
    expect(page.locator("[data-deliveries]")).to_contain_text("Test alert")
    screenshot(page, "alert-channels")

    # A channel that refuses: the result says why.
    make_channel(team, f"json://{target.host}:{target.port}/status/500", name="Broken")
    page.goto("/alerts/")  # not a reload: that page answered a POST
    page.locator('tr[data-channel="Broken"]').get_by_role("button", name="Send a test alert").click()
    expect(page.locator("[data-test-result]")).to_have_attribute("data-test-result", "failed")
    expect(page.locator("[data-test-result]")).to_contain_text("500")


def test_a_viewer_reads_a_jobs_incidents_and_follows_an_alert_to_its_incident(page, team, viewer):
    job = JobFactory(team=team, natural_id="nightly-report", name="Nightly report")
    channel = make_channel(team, "json://hooks.example.com/ops", name="ops")
    make_rule(team, [channel], job=job, events=["failure", "recovery"], after_failures=2)
    now = timezone.now()
    closed = Incident.objects.create(
        team=team, job=job, opened_at=now - timedelta(days=1), closed_at=now - timedelta(hours=20),
        status="closed", failures=4, last_error="HTTP 502",
    )  # fmt: skip
    current = Incident.objects.create(
        team=team, job=job, opened_at=now - timedelta(minutes=30), failures=3, last_error="HTTP 503"
    )
    Delivery.objects.create(
        team=team, channel=channel, channel_name="ops", incident=current, job=job, event="failure", severity="error",
        title="Hourglass: acme/nightly-report failed (2 times in a row)", body="b", status="delivered", attempts=1,
        created_at=now - timedelta(minutes=20), delivered_at=now - timedelta(minutes=20),
    )  # fmt: skip

    login(page, "bob", f"/jobs/{job.pk}/")
    alerts = page.locator("[data-job-alerts]")
    expect(alerts.locator(f'tr[data-incident="{current.pk}"]')).to_contain_text("still failing")
    expect(alerts.locator(f'tr[data-incident="{closed.pk}"]')).to_contain_text("Closed")
    alerts.locator("[data-job-incidents]").click()
    expect(page.locator("h1")).to_have_text("Incidents")
    expect(page.locator("tr[data-incident]")).to_have_count(2)
    page.get_by_role("link", name="open", exact=True).click()
    expect(page.locator("tr[data-incident]")).to_have_count(1)
    screenshot(page, "incidents")

    page.get_by_role("link", name="Alerts", exact=True).click()
    page.locator("[data-incident-link]").first.click()
    expect(page.locator("[data-incident-status]")).to_have_text("Open")
    expect(page.locator("[data-deliveries]")).to_contain_text("Delivered")
