"""Plan, apply and export against the real database: the round trip, idempotence, all-or-nothing, prune, secrets,
and the fire-time preview across a DST change."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine

from history.models import Run
from jobs.crypto import decrypt_value
from jobs.manifest.apply import manifest_export
from jobs.manifest.document import ManifestError, dump
from jobs.models import AuditEntry, Job
from tests.factories import JobFactory, RunFactory
from tests.jobs.manifest.support import MANIFEST, SECRET, apply, plan

pytestmark = pytest.mark.django_db


def test_it_plans_every_job_of_a_new_manifest_as_a_create(team):
    result = plan(team)
    assert result.summary() == {"create": 3, "update": 0, "delete": 0, "unchanged": 0}
    report = next(job for job in result.jobs if job.natural_id == "nightly-report")
    changes = {change.path: change.as_dict()["new"] for change in report.changes}
    assert changes["schedule.expression"] == "30 2 * * *"
    assert changes["request.headers.Authorization"] == "[redacted]"
    assert len(report.fire_times) == 5
    assert report.slots == {"added": 7, "removed": 0}
    assert not Job.objects.filter(team=team).exists()


def test_apply_writes_the_jobs_and_a_second_apply_changes_nothing(team, owner):
    first = apply(team, by=owner)
    assert first.summary()["create"] == 3
    job = Job.objects.get(team=team, natural_id="nightly-report")
    assert job.name == "Nightly report"
    assert job.retry_limit == 2
    assert job.variables == {"region": "eu"}
    stored = job.steps.get().config["headers"]["Authorization"]
    assert stored.startswith("enc:v1:")
    assert decrypt_value(stored) == SECRET
    assert [s.name for s in Job.objects.get(natural_id="fetch-and-notify").steps.order_by("position")] == [
        "fetch",
        "mail",
    ]
    entries = AuditEntry.objects.filter(team=team, action="manifest.apply")
    assert entries.count() == 1
    assert entries.get().details["summary"]["create"] == 3
    updated = job.updated_at

    second = apply(team, by=owner)
    assert not second.changed
    assert second.summary() == {"create": 0, "update": 0, "delete": 0, "unchanged": 3}
    assert AuditEntry.objects.filter(team=team, action="manifest.apply").count() == 1
    assert Job.objects.get(pk=job.pk).updated_at == updated


def test_export_then_apply_then_plan_shows_no_change(team):
    apply(team)
    exported = manifest_export(team=team)
    text = dump(exported)
    assert SECRET not in text
    assert "enc:v1" not in text
    assert exported["jobs"]["nightly-report"]["request"]["headers"]["Authorization"] == {"secretFrom": "stored"}
    assert not plan(team, text, secrets=lambda name: None).changed
    assert not apply(team, dump(exported, "json"), secrets=lambda name: None).changed
    assert not plan(team, text, secrets=lambda name: None).changed
    # The stored secret survived the round trip.
    step = Job.objects.get(natural_id="nightly-report").steps.get()
    assert decrypt_value(step.config["headers"]["Authorization"]) == SECRET


def test_an_update_is_listed_field_by_field_old_to_new(team):
    apply(team)
    changed = MANIFEST.replace('expression: "30 2 * * *"', 'expression: "45 3 * * *"').replace("limit: 2", "limit: 5")
    result = plan(team, changed)
    assert result.summary() == {"create": 0, "update": 1, "delete": 0, "unchanged": 2}
    report = result.jobs[0]
    assert [c.as_dict() for c in report.changes] == [
        {"path": "schedule.expression", "old": "30 2 * * *", "new": "45 3 * * *"},
        {"path": "retry.limit", "old": 2, "new": 5},
    ]
    assert report.slots == {"added": 7, "removed": 7}
    apply(team, changed)
    assert Job.objects.get(natural_id="nightly-report").cron_expression == "45 3 * * *"


def test_a_new_secret_value_is_a_change_but_never_shown(team):
    apply(team)
    result = plan(team, secrets={"REPORT_TOKEN": "another-token-5678"}.get)
    [change] = result.jobs[0].changes
    assert change.as_dict() == {
        "path": "request.headers.Authorization",
        "old": "[redacted]",
        "new": "[redacted] (a new value)",
    }
    rendered = json.dumps(result.as_dict())
    assert SECRET not in rendered
    assert "another-token" not in rendered


def test_a_bad_manifest_changes_nothing_and_reports_every_error_with_its_line(team):
    apply(team)
    bad = (
        MANIFEST.replace("timezone: Europe/Berlin", "timezone: Mars/Olympus")
        .replace("seconds: 60", "seconds: 60, every: 3")
        .replace("url: https://api.example.com/fetch", "url: ftp://api.example.com/fetch")
        + "  new-job:\n    schedule: {kind: cron, expression: '* * * * *'}\n    request: {url: https://x.example.com}\n"
    )
    with pytest.raises(ManifestError) as caught:
        apply(team, bad, secrets={}.get)
    found = {p.location: p.line for p in caught.value.problems}
    assert found == {
        "jobs.nightly-report.schedule.timezone": 6,
        "jobs.nightly-report.request.headers.Authorization.secretFrom": 11,
        "jobs.heartbeat.schedule.every": 20,
        "jobs.fetch-and-notify.steps[0].config.url": 28,
    }, caught.value.problems
    assert not Job.objects.filter(natural_id="new-job").exists()
    assert Job.objects.get(natural_id="nightly-report").timezone == "Europe/Berlin"


def test_unknown_fields_are_refused_at_every_level(team):
    text = (
        "version: 1\ncolour: red\njobs:\n  a:\n    schedule: {kind: cron, expression: '* * * * *', when: now}\n"
        "    request: {url: 'https://a.example.com', verb: GET}\n    maxRunz: 3\n    naturalId: a\n"
    )
    with pytest.raises(ManifestError) as caught:
        plan(team, text)
    assert {p.location for p in caught.value.problems} == {
        "colour",
        "jobs.a.schedule.when",
        "jobs.a.request.verb",
        "jobs.a.maxRunz",
        "jobs.a.naturalId",
    }


def test_prune_deletes_the_jobs_the_manifest_leaves_out_and_only_with_prune(team, other_team):
    apply(team)
    JobFactory(team=team, natural_id="legacy")
    JobFactory(team=other_team, natural_id="theirs")
    assert plan(team).summary()["delete"] == 0
    result = apply(team, prune=True)
    assert [(j.natural_id, j.action) for j in result.jobs if j.action == "delete"] == [("legacy", "delete")]
    assert not Job.objects.filter(team=team, natural_id="legacy").exists()
    assert Job.objects.filter(team=other_team, natural_id="theirs").exists()


def test_prune_leaves_a_job_with_a_run_in_progress_and_changes_nothing(team):
    apply(team)
    legacy = JobFactory(team=team, natural_id="legacy")
    RunFactory(job=legacy, status=Run.Status.RUNNING, end_reason="")
    with pytest.raises(ManifestError) as caught:
        apply(team, prune=True)
    [problem] = caught.value.problems
    assert problem.location == "jobs.legacy"
    assert "run in progress" in problem.message
    assert Job.objects.filter(team=team, natural_id="legacy").exists()
    assert plan(team).summary()["delete"] == 0  # without prune the job is simply not the manifest's


def test_stored_on_a_new_job_is_an_error(team):
    text = MANIFEST.replace("{secretFrom: env:REPORT_TOKEN}", "{secretFrom: stored}")
    with pytest.raises(ManifestError) as caught:
        plan(team, text)
    [problem] = caught.value.problems
    assert problem.location == "jobs.nightly-report.request.headers.Authorization"
    assert "no stored value" in problem.message


@time_machine.travel(datetime(2026, 3, 27, 12, 0, tzinfo=UTC), tick=False)
def test_fire_times_across_spring_forward_are_flagged(team):
    result = plan(team)
    report = next(job for job in result.jobs if job.natural_id == "nightly-report")
    times = report.fire_times
    assert [t["utc"] for t in times[:3]] == ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
    assert times[1]["local"] == "2026-03-29T03:00:00+02:00"
    assert "clocks go forward" in times[1]["dst"]
    assert times[0]["dst"] is None
    assert times[2]["dst"] is None


def test_a_key_given_twice_is_refused_not_silently_the_last(team):
    text = (
        MANIFEST
        + "  heartbeat:\n    schedule: {kind: interval, seconds: 30}\n    request: {url: https://b.example.com}\n"
    )
    with pytest.raises(ManifestError) as caught:
        plan(team, text)
    [problem] = caught.value.problems
    assert (problem.location, problem.line) == ("jobs.heartbeat", 33)
    with pytest.raises(ManifestError, match="given twice"):
        plan(team, '{"version": 1, "jobs": {}, "jobs": {}}')


def test_without_compare_secrets_a_given_value_is_always_a_change(team):
    apply(team)
    assert not plan(team).changed
    blind = plan(team, compare_secrets=False)
    [change] = blind.jobs[0].changes
    assert change.path == "request.headers.Authorization"
    # A stored reference is not a guess: it stays unchanged either way.
    exported = dump(manifest_export(team=team))
    assert not plan(team, exported, secrets=lambda name: None, compare_secrets=False).changed


def test_a_yaml_flow_mapping_is_yaml_not_broken_json(team):
    result = plan(
        team,
        "{version: 1, jobs: {a: {schedule: {kind: cron, expression: '@daily'}, request: {url: 'https://a.example.com'}}}}",
    )
    assert result.summary()["create"] == 1


@time_machine.travel(datetime(2026, 10, 23, 12, 0, tzinfo=UTC), tick=False)
def test_a_wall_time_that_occurs_twice_is_flagged(team):
    report = next(job for job in plan(team).jobs if job.natural_id == "nightly-report")
    flagged = [t for t in report.fire_times if t["dst"]]
    assert [t["local"] for t in flagged] == ["2026-10-25T02:30:00+02:00"]
    assert "occurs twice" in flagged[0]["dst"]
