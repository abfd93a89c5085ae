"""The POST data of the dashboard's job form (jobs:create, jobs:edit), for tests that submit it."""

from __future__ import annotations

from typing import Any


def job_form(steps: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "natural_id": "billing-sync",
        "name": "Billing sync",
        "enabled": "on",
        "schedule_kind": "cron",
        "cron_expression": "*/15 * * * *",
        "timezone": "Europe/Berlin",
        "retry_limit": 2,
        "backoff_strategy": "exponential",
        "backoff_base_seconds": 10,
        "overlap_policy": "forbid",
        "misfire_grace_seconds": 60,
        "success_statuses": "200-299",
        "keep_runs": 100,
        "variables": '{"region": "eu"}',
        "secret_headers": "X-Api-Token",
    }
    steps = steps or [{"url": "https://example.com/sync"}]
    data.update({"steps-TOTAL_FORMS": len(steps), "steps-INITIAL_FORMS": 0, "steps-MIN_NUM_FORMS": 1})
    for index, step in enumerate(steps):
        defaults = {"name": "main", "kind": "http", "method": "GET", "timeout_ms": 30000, "run_if": "on_success"}
        defaults["after_failures"] = 1
        data.update({f"steps-{index}-{key}": value for key, value in {**defaults, **step}.items()})
    data.update(fields)
    return data
