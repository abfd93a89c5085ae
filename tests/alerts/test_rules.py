"""Alert rules on real runs: N failures in a row, repeat while failing or once per incident, recovery, quiet
hours. Runs go through the executor against the local target; alerts go through Apprise to a JSON webhook on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from alerts.models import AlertRule, Delivery, Incident
from alerts.rules import in_quiet_hours
from tests.alerts.conftest import make_channel, make_rule
from tests.alerts.support import alerts_received, hook, run_once, send_published, statuses
from tests.jobs.engine.execute_support import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_alerts_once_the_nth_failure_in_a_row_happens(team, target, published):
    job = make_job(team, target.url("/status/500"))
    make_rule(team, [make_channel(team, hook(target, "ops"))], job=job, events=["failure"], after_failures=3)

    for _ in range(2):
        run_once(job, target.url("/status/500"))
    assert Delivery.objects.count() == 0
    third = run_once(job, target.url("/status/500"))
    assert third.end_reason == "failed"
    assert published
    assert Delivery.objects.get().status == "pending"

    send_published(published)
    (alert,) = alerts_received(target, "ops")
    assert alert["title"] == f"Hourglass: {team.slug}/{job.natural_id} failed (3 times in a row)"
    assert alert["type"] == "failure"
    incident = Incident.objects.get(job=job)
    assert f"/incidents/{incident.pk}/" in alert["message"]
    assert str(third.pk) in alert["message"]
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.incident_id, delivery.run_id) == (
        "delivered",
        1,
        incident.pk,
        third.pk,
    )


def test_once_per_incident_stays_quiet_until_the_next_incident(team, target, published):
    job = make_job(team, target.url("/status/500"))
    make_rule(team, [make_channel(team, hook(target, "once"))], job=job, events=["failure"])
    for _ in range(3):
        run_once(job, target.url("/status/500"))
    assert statuses(event="failure") == ["pending"]
    run_once(job, target.url("/ok"))  # recovers: the incident closes
    run_once(job, target.url("/status/500"))  # a new incident: a new alert
    assert statuses(event="failure") == ["pending", "pending"]
    assert Incident.objects.filter(job=job).count() == 2


def test_it_repeats_every_x_while_failing(team, target, published):
    job = make_job(team, target.url("/status/500"))
    rule = make_rule(
        team, [make_channel(team, hook(target, "repeat"))], job=job, events=["failure"], repeat_every_seconds=600
    )
    run_once(job, target.url("/status/500"))
    run_once(job, target.url("/status/500"))  # within the 10 minutes: nothing new
    assert statuses(rule=rule) == ["pending"]

    # Ten minutes on: the last alert is that old.
    Delivery.objects.filter(rule=rule).update(created_at=timezone.now() - timedelta(seconds=601))
    run_once(job, target.url("/status/500"))
    assert statuses(rule=rule) == ["pending", "pending"]
    send_published(published)
    titles = [alert["title"] for alert in alerts_received(target, "repeat")]
    assert titles == [
        f"Hourglass: {team.slug}/{job.natural_id} failed",
        f"Hourglass: {team.slug}/{job.natural_id} failed (3 times in a row)",
    ]


def test_recovery_alerts_and_closes_the_incident(team, target, published):
    job = make_job(team, target.url("/status/500"))
    make_rule(
        team, [make_channel(team, hook(target, "rec"))], job=job, events=["failure", "recovery"], after_failures=2
    )
    run_once(job, target.url("/status/500"))
    run_once(job, target.url("/status/500"))
    recovered = run_once(job, target.url("/ok"))
    assert recovered.end_reason == "success"

    send_published(published)
    failure, recovery = alerts_received(target, "rec")
    assert failure["type"] == "failure"
    assert (recovery["title"], recovery["type"]) == (f"Hourglass: {team.slug}/{job.natural_id} recovered", "info")
    assert "Succeeded after 2 failed runs" in recovery["message"]
    incident = Incident.objects.get(job=job)
    assert (incident.status, incident.recovery_run_id, incident.failures) == ("closed", recovered.pk, 2)


def test_no_recovery_alert_for_an_incident_that_never_alerted(team, target, published):
    job = make_job(team, target.url("/status/500"))
    make_rule(
        team, [make_channel(team, hook(target, "rec"))], job=job, events=["failure", "recovery"], after_failures=3
    )
    run_once(job, target.url("/status/500"))
    run_once(job, target.url("/ok"))
    assert Incident.objects.get(job=job).status == "closed"
    assert Delivery.objects.count() == 0


def test_quiet_hours_record_the_alert_as_suppressed_and_send_nothing(team, target, published):
    job = make_job(team, target.url("/status/500"))
    now = timezone.now().astimezone(UTC)
    quiet = {
        "quiet_start": (now - timedelta(hours=1)).time().replace(microsecond=0),
        "quiet_end": (now + timedelta(hours=1)).time().replace(microsecond=0),
        "quiet_timezone": "UTC",
    }
    make_rule(team, [make_channel(team, hook(target, "night"), name="night")], job=job, events=["failure"], **quiet)
    awake = {
        "quiet_start": (now + timedelta(hours=2)).time().replace(microsecond=0),
        "quiet_end": (now + timedelta(hours=3)).time().replace(microsecond=0),
    }
    make_rule(team, [make_channel(team, hook(target, "day"), name="day")], job=job, events=["failure"], **awake)

    run_once(job, target.url("/status/500"))
    send_published(published)
    night = Delivery.objects.get(channel_name="night")
    assert (night.status, night.error, night.attempts) == ("suppressed", "Quiet hours: recorded, not sent.", 0)
    assert alerts_received(target, "night") == []
    assert len(alerts_received(target, "day")) == 1


def test_quiet_hours_span_midnight_on_the_day_they_start_in_their_zone():
    rule = AlertRule(
        quiet_days=[4], quiet_start=datetime(2000, 1, 1, 22).time(), quiet_end=datetime(2000, 1, 1, 6).time()
    )
    rule.quiet_timezone = "Europe/Berlin"
    friday_night = datetime(2026, 1, 9, 22, 30, tzinfo=UTC)  # 23:30 on Friday in Berlin
    saturday_early = datetime(2026, 1, 10, 4, 0, tzinfo=UTC)  # 05:00 on Saturday: still Friday's window
    saturday_night = datetime(2026, 1, 10, 22, 30, tzinfo=UTC)  # Saturday's night is not quiet
    thursday_late = datetime(2026, 1, 8, 20, 30, tzinfo=UTC)  # 21:30 Thursday: before any window
    assert in_quiet_hours(rule, friday_night)
    assert in_quiet_hours(rule, saturday_early)
    assert not in_quiet_hours(rule, saturday_night)
    assert not in_quiet_hours(rule, thursday_late)


def test_a_jobs_own_rules_replace_the_team_defaults(team, target, published):
    own = make_job(team, target.url("/status/500"))
    other = make_job(team, target.url("/status/500"))
    make_rule(team, [make_channel(team, hook(target, "team"), name="team")], events=["failure"])
    make_rule(team, [make_channel(team, hook(target, "own"), name="own")], job=own, events=["failure"])
    run_once(own, target.url("/status/500"))
    run_once(other, target.url("/status/500"))
    send_published(published)
    assert [a["title"] for a in alerts_received(target, "own")] == [f"Hourglass: acme/{own.natural_id} failed"]
    assert [a["title"] for a in alerts_received(target, "team")] == [f"Hourglass: acme/{other.natural_id} failed"]


def test_a_channel_below_its_minimum_severity_gets_nothing(team, target, published):
    job = make_job(team, target.url("/status/500"))
    pager = make_channel(team, hook(target, "pager"), name="pager", min_severity="critical")
    chat = make_channel(team, hook(target, "chat"), name="chat")
    make_rule(team, [pager, chat], job=job, events=["failure"])
    run_once(job, target.url("/status/500"))
    assert list(Delivery.objects.values_list("channel_name", flat=True)) == ["chat"]
