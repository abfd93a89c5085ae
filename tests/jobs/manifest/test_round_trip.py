"""Every field a job can have survives export → apply → plan: no change, nothing rewritten, no secret written out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.calendar_services import calendar_write
from jobs.manifest.apply import manifest_export
from jobs.manifest.document import dump
from jobs.models import Job
from jobs.write import job_write
from tests.jobs.manifest.support import apply, plan

pytestmark = pytest.mark.django_db


def _nothing(name: str) -> None:
    return None


@pytest.fixture
def jobs_of_every_kind(team):
    soon = datetime.now(UTC) + timedelta(days=3)
    calendar_write(team=team, fields={"name": "us-holidays", "holidays": [{"country": "US"}]})
    calendar_write(
        team=team, fields={"name": "office", "windows": [{"days": ["mon-fri"], "start": "09:00", "end": "17:00"}]}
    )
    job_write(
        team=team,
        fields={
            "natural_id": "everything",
            "name": "Every field",
            "description": "Two lines\nof description.",
            "enabled": False,
            "schedule_kind": "interval",
            "interval_seconds": 3600,
            "run_at": soon,
            "timezone": "America/New_York",
            "retry_limit": 4,
            "backoff_strategy": "constant",
            "backoff_base_seconds": 7,
            "overlap_policy": "replace",
            "misfire_grace_seconds": 5,
            "jitter_seconds": 90,
            "start_at": soon - timedelta(days=1),
            "end_at": soon + timedelta(days=30),
            "max_runs": 40,
            "pause_after_failures": 5,
            "anomaly_window": 50,
            "anomaly_min_samples": 20,
            "anomaly_duration_k": 3.5,
            "anomaly_size_factor": 0,
            "anomaly_json_field": "/data/items",
            "success_statuses": "200-299,304",
            "success_body_contains": "ok",
            "success_body_regex": "^ok",
            "success_max_latency_ms": 2500,
            "follow_redirects": True,
            "keep_runs": 10,
            "keep_days": 3,
            "keep_failed_days": 30,
            "variables": {"region": "eu", "limits": {"max": 3}},
            "secret_headers": ["X-Signature"],
            "calendars": [{"calendar": "us-holidays", "mode": "exclude"}, {"calendar": "office", "mode": "only"}],
        },
        steps=[
            {
                "name": "call",
                "config": {
                    "method": "PUT",
                    "url": "https://api.example.com/{{ region }}",
                    "headers": {"X-Signature": "sig-secret-1", "Authorization": "Bearer tok-secret-2", "X-Plain": "p"},
                    "body": "{}",
                    "timeout_ms": 1234,
                },
            },
            {
                "name": "hook",
                "kind": "webhook",
                "run_if": "always",
                "depends_on": ["call"],
                "config": {"url": "https://hooks.example.com/x", "after_failures": 2, "on_recovery": True},
            },
            {
                "name": "mail",
                "kind": "email",
                "run_if": "on_failure",
                "config": {"recipients": ["a@example.com", "b@example.com"], "subject": "{{ outcome }}", "body": "b"},
            },
        ],
    )
    job_write(
        team=team,
        fields={"natural_id": "one-off", "schedule_kind": "once", "run_at": soon, "timezone": "Asia/Tokyo"},
        steps=[{"name": "main", "config": {"url": "https://once.example.com/"}}],
    )
    job_write(
        team=team,
        fields={"natural_id": "spread", "cron_expression": "H(0-29)/10 H * * *", "timezone": "Europe/Berlin"},
        steps=[{"name": "main", "config": {"url": "https://spread.example.com/"}}],
    )
    return Job.objects.filter(team=team)


def test_every_field_round_trips(team, jobs_of_every_kind):
    before = {job.natural_id: (job.updated_at, [s.config for s in job.steps.all()]) for job in jobs_of_every_kind}
    for fmt in ("yaml", "json"):
        text = dump(manifest_export(team=team), fmt)
        assert "sig-secret-1" not in text
        assert "tok-secret-2" not in text
        assert "enc:v1" not in text
        result = plan(team, text, secrets=_nothing)
        assert not result.changed, [(j.natural_id, [c.as_dict() for c in j.changes]) for j in result.jobs]
        assert not apply(team, text, secrets=_nothing).changed
    after = {job.natural_id: (job.updated_at, [s.config for s in job.steps.all()]) for job in Job.objects.all()}
    assert after == before
