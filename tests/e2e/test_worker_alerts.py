"""Alerts through a real worker: a failed run's alert is recorded by the engine's writer, published on commit,
sent by `hourglass.deliver_alerts` through Apprise to the local target, and a failing channel is retried by the
clock's sweep, while the good channel's alert went out at once."""

from __future__ import annotations

import json

import pytest

from alerts.models import Delivery
from alerts.services import channel_create, rule_save
from tests.e2e.conftest import wait_until
from tests.e2e.support import once_job

pytestmark = pytest.mark.e2e


def test_a_failed_runs_alert_goes_out_through_the_worker_and_a_failing_channel_is_retried(start_worker, team, target):
    worker = start_worker(HOURGLASS_ALERT_BACKOFF_SECONDS="1")
    good = channel_create(team=team, name="good", url=f"json://{target.host}:{target.port}/ok/worker")
    bad = channel_create(team=team, name="bad", url=f"json://{target.host}:{target.port}/status/503")
    job = once_job(team, target.url("/status/500"))
    rule_save(team=team, data={"job": job, "channels": [good, bad], "events": ["failure"]})

    delivered = wait_until(
        lambda: Delivery.objects.filter(channel=good, status="delivered").first(), 20, "the alert delivered", worker
    )
    (received,) = target.received("/ok/worker")
    assert json.loads(received.body)["title"] == f"Hourglass: acme/{job.natural_id} failed"
    assert delivered.attempts == 1
    retried = wait_until(
        lambda: Delivery.objects.filter(channel=bad, attempts__gte=2).first(), 30, "the sweep to retry", worker
    )
    assert "503" in retried.error
    assert len(target.received("/ok/worker")) == 1
