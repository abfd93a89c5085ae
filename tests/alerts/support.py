"""Helpers for the alerting tests: runs through the real executor, and the published deliveries sent."""

from __future__ import annotations

import json
from typing import Any

from alerts.models import Delivery
from alerts.tasks import deliver_alerts
from jobs.models import Job
from tests.jobs.engine.execute_support import execute, http_config, make_run
from tests.target import Target


def point(job: Job, url: str) -> None:
    job.steps.filter(name="main").update(config=http_config(url))


def run_once(job: Job, url: str) -> Any:
    point(job, url)
    return execute(make_run(job))


def send_published(published: list[list[str]]) -> None:
    """What a worker does with each published message (the task, run eagerly); the list is emptied."""
    batches = list(published)
    published.clear()
    for ids in batches:
        deliver_alerts.apply(args=[ids])


def hook(target: Target, name: str) -> str:
    """A JSON webhook channel URL on the local target (its /ok route answers 200 to any method)."""
    return f"json://{target.host}:{target.port}/ok/{name}"


def alerts_received(target: Target, name: str) -> list[dict[str, Any]]:
    return [json.loads(request.body) for request in target.received(f"/ok/{name}")]


def statuses(**filters: Any) -> list[str]:
    return list(Delivery.objects.filter(**filters).order_by("created_at").values_list("status", flat=True))
