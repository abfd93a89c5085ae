"""The alerting API: team admins add, test and delete channels; editors manage rules; viewers read incidents
and deliveries; outsiders get 404. Errors are problem+json; a channel's URL never comes back."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from alerts.models import AlertRule, Channel, Delivery
from tests.alerts.conftest import make_channel, make_rule
from tests.alerts.support import alerts_received, hook
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_an_admin_adds_a_channel_whose_url_is_sealed_and_never_shown(team, owner, target):
    url = f"json://bot:s3cretpass@{target.host}:{target.port}/ok/api"
    response = client_for(owner).post(
        "/api/teams/acme/channels", {"name": "ops", "url": url, "minSeverity": "error"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["kind"], body["url"], body["minSeverity"]) == (
        "ops",
        "json",
        "json://[redacted]",
        "error",
    )
    stored = Channel.objects.get()
    assert stored.url.startswith("enc:v1:")
    assert "s3cretpass" not in stored.url
    listed = client_for(owner).get("/api/teams/acme/channels").content.decode()
    assert "s3cretpass" not in listed
    assert "json://[redacted]" in listed


def test_a_bad_url_is_a_problem_with_the_field_named(team, owner):
    response = client_for(owner).post(
        "/api/teams/acme/channels", {"name": "ops", "url": "nosuchservice://x"}, format="json"
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert [error["location"] for error in errors] == ["body.url"]
    assert "Apprise does not understand" in errors[0]["message"]


def test_only_admins_write_channels_and_outsiders_see_nothing(team, owner, editor, viewer, outsider):
    channel = make_channel(team, "json://hooks.example.com/x")
    body = {"name": "x", "url": "json://hooks.example.com/y"}
    assert client_for(editor).post("/api/teams/acme/channels", body, format="json").status_code == 403
    assert client_for(viewer).get("/api/teams/acme/channels").status_code == 200
    assert client_for(outsider).get("/api/teams/acme/channels").status_code == 404
    assert client_for(outsider).delete(f"/api/teams/acme/channels/{channel.pk}").status_code == 404
    assert client_for(editor).delete(f"/api/teams/acme/channels/{channel.pk}").status_code == 403
    assert client_for(editor).post(f"/api/teams/acme/channels/{channel.pk}/test").status_code == 403
    assert client_for(owner).delete(f"/api/teams/acme/channels/{channel.pk}").status_code == 204
    assert not Channel.objects.exists()


def test_test_sends_a_real_alert_and_answers_with_the_delivery(team, owner, target):
    channel = make_channel(team, hook(target, "test"))
    response = client_for(owner).post(f"/api/teams/acme/channels/{channel.pk}/test")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["event"], response.json()["attempts"]) == (
        "delivered",
        "test",
        1,
    )
    (alert,) = alerts_received(target, "test")
    assert alert["title"] == "Hourglass: test alert"
    assert "sent by alice" in alert["message"]


def test_a_failed_test_says_why_and_is_not_retried(team, owner, target):
    channel = make_channel(team, f"json://{target.host}:{target.port}/status/404")
    body = client_for(owner).post(f"/api/teams/acme/channels/{channel.pk}/test").json()
    assert body["status"] == "failed"
    assert "404" in body["error"]
    assert Delivery.objects.get().next_attempt_at is None


def test_editors_manage_rules_and_viewers_read_them(team, editor, viewer, outsider):
    channel = make_channel(team, "json://hooks.example.com/x")
    job = JobFactory(team=team, natural_id="nightly")
    body = {
        "job": "nightly",
        "events": ["failure", "recovery"],
        "afterFailures": 3,
        "repeatEverySeconds": 3600,
        "quietHours": {"days": [5, 6], "start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
        "channels": [str(channel.pk)],
    }
    assert client_for(viewer).post("/api/teams/acme/alert-rules", body, format="json").status_code == 403
    assert client_for(outsider).post("/api/teams/acme/alert-rules", body, format="json").status_code == 404
    response = client_for(editor).post("/api/teams/acme/alert-rules", body, format="json")
    assert response.status_code == 201, response.content
    rule = response.json()
    assert rule["job"] == str(job.pk)
    assert rule["quietHours"] == {"days": [5, 6], "start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}
    assert (rule["afterFailures"], rule["repeatEverySeconds"], rule["channels"]) == (3, 3600, [str(channel.pk)])

    changed = client_for(editor).patch(
        f"/api/teams/acme/alert-rules/{rule['id']}", {"repeatEverySeconds": None, "quietHours": None}, format="json"
    )
    assert changed.status_code == 200
    assert (changed.json()["repeatEverySeconds"], changed.json()["quietHours"]) == (None, None)
    assert changed.json()["afterFailures"] == 3  # untouched
    assert client_for(viewer).get("/api/teams/acme/alert-rules").json()["rules"][0]["id"] == rule["id"]
    assert client_for(viewer).delete(f"/api/teams/acme/alert-rules/{rule['id']}").status_code == 403
    assert client_for(editor).delete(f"/api/teams/acme/alert-rules/{rule['id']}").status_code == 204
    assert not AlertRule.objects.exists()


def test_a_rule_with_mistakes_names_every_field(team, editor, other_team):
    theirs = make_channel(other_team, "json://hooks.example.com/theirs")
    body = {
        "job": "no-such-job",
        "events": ["failure"],
        "quietHours": {"start": "25:00", "end": "07:00", "timezone": "Mars/Olympus"},
        "channels": [str(theirs.pk)],
    }
    response = client_for(editor).post("/api/teams/acme/alert-rules", body, format="json")
    assert response.status_code == 400
    locations = sorted(error["location"] for error in response.json()["errors"])
    assert locations == ["body.channels", "body.job", "body.quietHours.start", "body.quietHours.timezone"]
    unknown = client_for(editor).post("/api/teams/acme/alert-rules", {"evnts": ["failure"]}, format="json")
    assert unknown.status_code == 400


def test_viewers_read_incidents_and_deliveries(team, viewer, outsider, target):
    from alerts.models import Incident

    job = JobFactory(team=team, natural_id="nightly")
    channel = make_channel(team, hook(target, "x"))
    make_rule(team, [channel], job=job)
    incident = Incident.objects.create(team=team, job=job, opened_at="2026-01-05T12:00:00Z", failures=2)
    Delivery.objects.create(
        team=team, channel=channel, channel_name="hook", incident=incident, job=job, event="failure",
        severity="error", title="t", body="b", created_at="2026-01-05T12:00:01Z", status="delivered", attempts=1,
    )  # fmt: skip
    listed = client_for(viewer).get("/api/teams/acme/incidents?status=open").json()["incidents"]
    assert [(i["id"], i["jobNaturalId"], i["failures"]) for i in listed] == [(str(incident.pk), "nightly", 2)]
    assert listed[0]["url"].endswith(f"/incidents/{incident.pk}/")
    detail = client_for(viewer).get(f"/api/teams/acme/incidents/{incident.pk}").json()
    assert [d["status"] for d in detail["deliveries"]] == ["delivered"]
    log = client_for(viewer).get(f"/api/teams/acme/deliveries?incident={incident.pk}").json()["deliveries"]
    assert [(d["channelName"], d["event"], d["incident"]) for d in log] == [("hook", "failure", str(incident.pk))]
    assert client_for(outsider).get("/api/teams/acme/incidents").status_code == 404
    assert client_for(outsider).get(f"/api/teams/acme/incidents/{incident.pk}").status_code == 404
    assert client_for(outsider).get("/api/teams/acme/deliveries").status_code == 404
    assert client_for(viewer).get("/api/teams/acme/deliveries?limit=0").status_code == 400


def test_the_schemas_enum_names_follow_the_models(settings):
    from alerts.models import Incident, Severity

    names = settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]
    assert names["AlertSeverityEnum"] == Severity.values
    assert names["DeliveryStatusEnum"] == Delivery.Status.values
    assert names["IncidentStatusEnum"] == Incident.Status.values
