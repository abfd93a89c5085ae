"""Incidents: opened by a job's first failed run, grown by the next, closed by the success that follows;
retried failures count only at their last attempt; the reaper's crashes and the dispatcher's missed and skipped
slots, and the auto-pause, alert too."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.events import RunEnd, run_warning, runs_ended, runs_warned
from alerts.models import Delivery, Incident
from history.models import Run, RunBaseline
from jobs.engine.anomaly import DURATION, Finding, RunWarning
from jobs.engine.dispatch import dispatch
from jobs.engine.reaper import crash
from tests.alerts.conftest import make_channel, make_rule
from tests.alerts.support import alerts_received, hook, run_once, send_published
from tests.factories import RunFactory
from tests.jobs.engine.dispatch_support import Published
from tests.jobs.engine.execute_support import execute, make_job, make_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_incident_groups_the_runs_from_the_first_failure_to_the_recovery(team, target):
    job = make_job(team, target.url("/status/500"))
    other = make_job(team, target.url("/status/500"))
    make_rule(team, [make_channel(team, hook(target, "x"))], events=["failure"])
    first = run_once(job, target.url("/status/500"))
    incident = Incident.objects.get(job=job)
    assert (incident.status, incident.failures, incident.first_run_id) == ("open", 1, first.pk)
    second = run_once(job, target.url("/status/502"))
    run_once(other, target.url("/status/500"))
    incident.refresh_from_db()
    assert (incident.failures, incident.last_run_id, incident.closed_at) == (2, second.pk, None)
    assert "502" in incident.last_error
    recovery = run_once(job, target.url("/ok"))
    incident.refresh_from_db()
    assert (incident.status, incident.recovery_run_id) == ("closed", recovery.pk)
    assert incident.closed_at == recovery.finished_at
    assert Incident.objects.get(job=other).status == "open"  # per job

    run_once(job, target.url("/status/500"))
    assert list(Incident.objects.filter(job=job).order_by("opened_at").values_list("status", flat=True)) == [
        "closed",
        "open",
    ]


def test_a_failure_that_will_be_retried_is_not_yet_a_failed_run(team, target):
    job = make_job(team, target.url("/status/500"), retry_limit=1, backoff_base_seconds=0)
    make_rule(team, [make_channel(team, hook(target, "x"))], job=job, events=["failure"])
    execute(make_run(job))
    assert not Incident.objects.exists()
    execute(Run.objects.get(job=job, attempt=2))
    assert Incident.objects.get(job=job).failures == 1
    assert Delivery.objects.filter(event="failure").count() == 1


def test_a_crash_the_reaper_declares_opens_an_incident_and_alerts(team, target, published):
    job = make_job(team, target.url("/ok"))
    make_rule(team, [make_channel(team, hook(target, "crash"))], job=job, events=["failure"])
    now = timezone.now()
    run = make_run(job)
    Run.objects.filter(pk=run.pk).update(status="running", started_at=now, lease_expires_at=now - timedelta(seconds=1))
    assert crash(run.pk, now) == (True, False)
    assert Incident.objects.get(job=job).first_run_id == run.pk
    send_published(published)
    (alert,) = alerts_received(target, "crash")
    assert "Ended crashed" in alert["message"]


def test_missed_and_skipped_slots_alert(team, target, published, django_capture_on_commit_callbacks):
    now = timezone.now().replace(microsecond=0)
    missed = make_job(team, target.url("/ok"), next_run_at=now - timedelta(hours=2), misfire_grace_seconds=60)
    skipping = make_job(team, target.url("/ok"), next_run_at=now, overlap_policy="forbid")
    RunFactory(job=skipping, scheduled_for=now - timedelta(minutes=1), status="running", end_reason="")
    make_rule(team, [make_channel(team, hook(target, "slots"))], events=["missed", "skipped"])
    with django_capture_on_commit_callbacks(execute=True):
        dispatch(now, publisher=Published())
    events = dict(Delivery.objects.values_list("job_id", "event"))
    assert events == {missed.pk: "missed", skipping.pk: "skipped"}
    send_published(published)
    titles = sorted(alert["title"] for alert in alerts_received(target, "slots"))
    assert titles == [
        f"Hourglass: acme/{missed.natural_id} missed a slot",
        f"Hourglass: acme/{skipping.natural_id} skipped a slot",
    ]


def test_the_auto_pause_alerts_with_its_reason(team, target, published):
    job = make_job(team, target.url("/status/500"), pause_after_failures=2)
    make_rule(team, [make_channel(team, hook(target, "pause"))], job=job, events=["auto_pause"])
    run_once(job, target.url("/status/500"))
    assert not Delivery.objects.exists()
    run_once(job, target.url("/status/500"))
    delivery = Delivery.objects.get()
    assert (delivery.event, delivery.severity, delivery.incident_id) == (
        "auto_pause",
        "critical",
        Incident.objects.get(job=job).pk,
    )
    send_published(published)
    (alert,) = alerts_received(target, "pause")
    assert alert["title"] == f"Hourglass: acme/{job.natural_id} paused itself"
    assert "Paused after 2 failures in a row" in alert["message"]


def test_a_warning_alerts_the_rules_that_subscribe_to_it(team, target, published):
    job = make_job(team, target.url("/ok"))
    make_rule(team, [make_channel(team, hook(target, "warn"))], job=job, events=["warning"])
    make_rule(team, [make_channel(team, hook(target, "fail"), name="f")], job=job, events=["failure"])
    run = run_once(job, target.url("/ok"))
    assert not Delivery.objects.exists()  # a plain success alerts nobody
    ids = run_warning(run.pk, ["duration 9,000 ms is outside 80-240 ms"])
    assert len(ids) == 1
    send_published(published)
    (alert,) = alerts_received(target, "warn")
    assert alert["title"] == f"Hourglass: acme/{job.natural_id} succeeded with warnings"
    assert "duration 9,000 ms is outside 80-240 ms" in alert["message"]
    assert alert["type"] == "warning"
    assert alerts_received(target, "fail") == []


def test_a_duration_outlier_the_engine_warns_of_is_delivered_to_the_warning_rules(team, target, published, settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    job = make_job(team, target.url("/delay/400"), anomaly_duration_k=5.0)
    RunBaseline.objects.create(job=job, durations_ms=[20] * 10, updated_at=timezone.now())  # a 0-120 ms band
    make_rule(team, [make_channel(team, hook(target, "warn"))], job=job, events=["warning"])
    make_rule(team, [make_channel(team, hook(target, "fail"), name="f")], job=job, events=["failure"])
    run = execute(make_run(job))
    assert (run.end_reason, run.warnings, run.warning_kind) == ("success", True, "duration")
    delivery = Delivery.objects.get()
    assert (delivery.event, delivery.severity, delivery.run_id, delivery.status) == (
        "warning",
        "warning",
        run.pk,
        "pending",
    )
    send_published(published)
    (alert,) = alerts_received(target, "warn")
    assert alert["title"] == f"Hourglass: acme/{job.natural_id} succeeded with warnings"
    assert "outside 0 ms–120 ms" in alert["message"]
    assert alert["type"] == "warning"
    assert alerts_received(target, "fail") == []
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_an_engine_warning_without_a_warning_rule_alerts_nobody(team, target, settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    job = make_job(team, target.url("/delay/400"), anomaly_duration_k=5.0)
    RunBaseline.objects.create(job=job, durations_ms=[20] * 10, updated_at=timezone.now())
    make_rule(team, [make_channel(team, hook(target, "fail"))], job=job, events=["failure"])
    run = execute(make_run(job))
    assert run.warnings is True
    assert not Delivery.objects.exists()


def test_for_a_team_without_rules_ending_runs_costs_one_query(team, django_assert_num_queries):
    job = make_job(team, "https://example.com/")
    ends = [RunEnd(uuid.uuid4(), job.pk, team.pk, reason, timezone.now()) for reason in ("failed", "success")]
    with django_assert_num_queries(1):
        assert runs_ended(ends) == []
    assert not Incident.objects.exists()


def test_for_a_team_without_rules_a_batch_of_engine_warnings_costs_one_query(team, django_assert_num_queries):
    job = make_job(team, "https://example.com/")
    finding = Finding(DURATION, "Took 400 ms, outside 0 ms–120 ms")
    warnings = [
        RunWarning(str(uuid.uuid4()), str(job.pk), team.pk, DURATION, finding.message, (finding,), timezone.now())
        for _ in range(5)
    ]
    with django_assert_num_queries(1):
        assert runs_warned(warnings) == []
