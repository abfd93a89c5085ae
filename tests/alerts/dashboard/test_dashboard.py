"""Alerting in the dashboard: channels with "Send a test alert", rules on the job page, incidents per job and
team, the delivery log; the URL shown nowhere, not in the admin either."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alerts.models import AlertRule, Channel, Delivery, Incident
from tests.alerts.conftest import make_channel, make_rule
from tests.alerts.support import alerts_received
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_an_admin_adds_a_channel_and_sends_it_a_test_alert(client, team, owner, target):
    client.force_login(owner)
    url = f"json://bot:pa55word99@{target.host}:{target.port}/ok/dash"
    response = client.post(reverse("alerts:channel-create"), {"name": "ops", "url": url, "min_severity": "info"})
    assert response.status_code == 302
    channel = Channel.objects.get()
    page = client.get(reverse("alerts:channels")).content.decode()
    assert "json://[redacted]" in page
    assert "pa55word99" not in page

    result = client.post(reverse("alerts:channel-test", kwargs={"channel_id": channel.pk})).content.decode()
    assert 'data-test-result="delivered"' in result
    assert len(alerts_received(target, "dash")) == 1


def test_a_bad_channel_url_re_renders_the_form_with_the_reason(client, team, owner):
    client.force_login(owner)
    response = client.post(reverse("alerts:channel-create"), {"name": "x", "url": "nope://", "min_severity": "info"})
    assert response.status_code == 400
    assert "An Apprise URL starts with its service" in response.content.decode() or "Apprise does not" in (
        response.content.decode()
    )


def test_a_failed_test_alert_shows_why(client, team, owner, target):
    client.force_login(owner)
    channel = make_channel(team, f"json://{target.host}:{target.port}/status/500")
    page = client.post(reverse("alerts:channel-test", kwargs={"channel_id": channel.pk})).content.decode()
    assert 'data-test-result="failed"' in page
    assert "500" in page


def test_deleting_a_channel_asks_first(client, team, owner):
    client.force_login(owner)
    channel = make_channel(team, "json://hooks.example.com/x")
    url = reverse("alerts:channel-delete", kwargs={"channel_id": channel.pk})
    assert "Delete the channel" in client.post(url).content.decode()
    assert Channel.objects.exists()
    assert client.post(url, {"confirm": "yes"}).status_code == 302
    assert not Channel.objects.exists()


def test_a_viewer_sees_channels_but_no_forms_and_cannot_test(client, team, viewer):
    channel = make_channel(team, "json://hooks.example.com/x")
    client.force_login(viewer)
    page = client.get(reverse("alerts:channels")).content.decode()
    assert "hook" in page
    assert "Send a test alert" not in page
    assert "data-channel-form" not in page
    assert client.post(reverse("alerts:channel-test", kwargs={"channel_id": channel.pk})).status_code == 403


def test_an_editor_adds_a_rule_on_the_job_page(client, team, editor):
    job = JobFactory(team=team, natural_id="nightly")
    channel = make_channel(team, "json://hooks.example.com/x")
    client.force_login(editor)
    page = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert "data-rule-form" in page
    response = client.post(
        reverse("alerts:rule-create"),
        {"job": str(job.pk), "events": ["failure", "recovery"], "after_failures": "2", "repeat_minutes": "30",
         "quiet_start": "22:00", "quiet_end": "06:00", "quiet_timezone": "Europe/Berlin",
         "channels": [str(channel.pk)]},
    )  # fmt: skip
    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert (rule.job, rule.after_failures, rule.repeat_every_seconds, rule.quiet_timezone) == (
        job,
        2,
        1800,
        "Europe/Berlin",
    )
    page = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert f'data-rule="{rule.pk}"' in page
    assert "repeated every 30 min" in page


def test_a_rule_with_a_bad_zone_is_not_saved_and_says_why(client, team, editor):
    job = JobFactory(team=team, natural_id="nightly")
    channel = make_channel(team, "json://hooks.example.com/x")
    client.force_login(editor)
    response = client.post(
        reverse("alerts:rule-create"),
        {"job": str(job.pk), "events": ["failure"], "after_failures": "1", "quiet_timezone": "Nowhere/Land",
         "quiet_start": "22:00", "quiet_end": "06:00", "channels": [str(channel.pk)]},
        follow=True,
    )  # fmt: skip
    assert "Unknown time zone" in response.content.decode()
    assert not AlertRule.objects.exists()


def test_incidents_are_listed_per_team_and_job_and_alerts_link_to_them(client, team, viewer, outsider):
    job = JobFactory(team=team, natural_id="nightly", name="Nightly")
    other = JobFactory(team=team, natural_id="other", name="Other")
    channel = make_channel(team, "json://hooks.example.com/x")
    make_rule(team, [channel])
    incident = Incident.objects.create(team=team, job=job, opened_at="2026-01-05T12:00:00Z", failures=3)
    Incident.objects.create(team=team, job=other, opened_at="2026-01-05T13:00:00Z", status="closed")
    Delivery.objects.create(
        team=team, channel=channel, channel_name="hook", incident=incident, job=job, event="failure",
        severity="error", title="t", body="b", created_at="2026-01-05T12:00:01Z", status="failed", attempts=5,
        error="Blocked: 10.0.0.1, a private address",
    )  # fmt: skip
    client.force_login(viewer)
    team_page = client.get(reverse("alerts:incidents")).content.decode()
    assert f'data-incident="{incident.pk}"' in team_page
    assert "Other" in team_page
    job_page = client.get(reverse("alerts:incidents") + f"?job={job.pk}").content.decode()
    assert f'data-incident="{incident.pk}"' in job_page
    assert "Other" not in job_page
    detail = client.get(reverse("alerts:incident-detail", kwargs={"incident_id": incident.pk})).content.decode()
    assert "Blocked: 10.0.0.1, a private address" in detail
    log = client.get(reverse("alerts:deliveries")).content.decode()
    assert reverse("alerts:incident-detail", kwargs={"incident_id": incident.pk}) in log
    on_job = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert f'data-incident="{incident.pk}"' in on_job
    client.force_login(outsider)
    assert client.get(reverse("alerts:incident-detail", kwargs={"incident_id": incident.pk})).status_code == 404
    assert client.get(reverse("alerts:incidents") + f"?job={job.pk}").status_code == 404


def test_the_admin_never_shows_a_channels_url(client, team, owner):
    owner.is_staff = True
    owner.save()
    channel = make_channel(team, "json://bot:adm1nsecret@hooks.example.com/x")
    client.force_login(owner)
    listing = client.get("/admin/alerts/channel/").content.decode()
    change = client.get(f"/admin/alerts/channel/{channel.pk}/change/").content.decode()
    assert "json://[redacted]" in listing
    assert "adm1nsecret" not in listing + change
    assert "enc:v1:" not in listing + change


def test_an_editor_adds_and_deletes_a_team_default_rule_on_the_alerts_page(client, team, editor, viewer):
    channel = make_channel(team, "json://hooks.example.com/x")
    client.force_login(editor)
    assert "data-rule-form" in client.get(reverse("alerts:channels")).content.decode()
    response = client.post(
        reverse("alerts:rule-create"),
        {"name": "pager", "events": ["missed", "auto_pause"], "after_failures": "1", "quiet_timezone": "UTC",
         "quiet_days": ["5", "6"], "channels": [str(channel.pk)]},
    )  # fmt: skip
    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert (rule.job, rule.events, rule.quiet_days) == (None, ["missed", "auto_pause"], [5, 6])
    assert f'data-rule="{rule.pk}"' in client.get(reverse("alerts:channels")).content.decode()

    client.force_login(viewer)
    delete = reverse("alerts:rule-delete", kwargs={"rule_id": rule.pk})
    assert client.post(delete, {"confirm": "yes"}).status_code == 403
    client.force_login(editor)
    assert "Delete the rule" in client.post(delete).content.decode()  # asks first
    assert AlertRule.objects.exists()
    assert client.post(delete, {"confirm": "yes"}).status_code == 302
    assert not AlertRule.objects.exists()


def test_a_rule_without_a_channel_re_renders_the_alerts_page_with_the_reason(client, team, editor):
    make_channel(team, "json://hooks.example.com/x")
    client.force_login(editor)
    response = client.post(
        reverse("alerts:rule-create"), {"events": ["failure"], "after_failures": "1", "quiet_timezone": "UTC"}
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not AlertRule.objects.exists()
