"""From a validated JobSerializer payload to jobs.services calls, and their errors back to API names."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

from jobs import schedules
from jobs.models import Job, Team
from jobs.redact import REDACTED
from jobs.services import JOB_OPTION_FIELDS, job_create, job_update, schedule_from_input, steps_from_input

SCHEDULE_FIELDS = ("schedule_kind", "cron_expression", "timezone", "interval_seconds", "run_at")
# Model field → where the API takes it, so a service's error points at what the caller sent.
API_PATHS = {
    "natural_id": "naturalId",
    "retry_limit": "retry.limit",
    "backoff_strategy": "retry.backoff",
    "backoff_base_seconds": "retry.baseSeconds",
    "overlap_policy": "overlapPolicy",
    "misfire_grace_seconds": "misfireGraceSeconds",
    "success_statuses": "successRule.statuses",
    "success_body_contains": "successRule.bodyContains",
    "success_body_regex": "successRule.bodyRegex",
    "success_max_latency_ms": "successRule.maxLatencyMs",
    "follow_redirects": "successRule.followRedirects",
    "keep_runs": "retention.keepRuns",
    "keep_days": "retention.keepDays",
    "keep_failed_days": "retention.keepFailedDays",
    "secret_headers": "secretHeaders",
    "schedule_kind": "schedule.kind",
    "cron_expression": "schedule.expression",
    "interval_seconds": "schedule.seconds",
    "run_at": "schedule.at",
}
_STEP_PATH_RE = re.compile(r"^steps\[(\d+)\](.*)$")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _existing_steps(job: Job) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "kind": s.kind, "depends_on": s.depends_on, "run_if": s.run_if, "config": s.config}
        for s in job.steps.all()
    ]


def _restore_secrets(steps: list[dict[str, Any]], job: Job | None) -> None:
    """A header sent back as the redaction marker keeps the value stored for that step."""
    if job is None:
        return
    stored = {s["name"]: (s["config"] or {}).get("headers") or {} for s in _existing_steps(job)}
    for step in steps:
        headers = (step.get("config") or {}).get("headers") or {}
        for name, value in headers.items():
            if value == REDACTED and name in stored.get(step.get("name") or "", {}):
                headers[name] = stored[step["name"]][name]


def _notify_steps(notify: list[dict[str, Any]]) -> list[dict[str, Any]]:
    steps = []
    for index, raw in enumerate(notify):
        step = dict(raw)
        if step.get("kind", "http") == "http":
            raise ValidationError({f"notify[{index}].kind": "A notification is an email or a webhook step."})
        step.setdefault("name", f"notify-{index + 1}")
        config = step.get("config") or {}
        step.setdefault("run_if", "always" if config.get("on_recovery") else "on_failure")
        steps.append(step)
    return steps


def _plan_steps(data: dict[str, Any], job: Job | None) -> tuple[list[dict[str, Any]] | None, bool, int]:
    """(raw steps or None if unchanged, whether the request shortcut was used, how many precede notify)."""
    request, steps, notify = data.get("request"), data.get("steps"), data.get("notify")
    if request is None and steps is None and notify is None:
        return None, False, 0
    existing = _existing_steps(job) if job is not None else []
    if steps is not None:
        base = [dict(s) for s in steps]
    elif request is not None:
        base = [{"name": "main", "kind": "http", "config": dict(request)}]
    else:
        base = [s for s in existing if s["kind"] == "http"]
    if notify is not None:
        extra = _notify_steps(notify)
    elif steps is None:
        extra = [s for s in existing if s["kind"] != "http"]
    else:
        extra = []
    return base + extra, request is not None and steps is None, len(base)


def _api_path(field: str, via_request: bool, base_count: int) -> str:
    match = _STEP_PATH_RE.match(field)
    if match is None:
        return API_PATHS.get(field, field)
    index, rest = int(match.group(1)), match.group(2)
    rest = re.sub(r"\.([a-z_]+)", lambda m: "." + _camel(m.group(1)), rest)
    if via_request and index == 0:
        return "request" + rest.replace(".config", "", 1)
    if index >= base_count:
        return f"notify[{index - base_count}]{rest}"
    return f"steps[{index}]{rest}"


def _rekeyed(exc: ValidationError, via_request: bool, base_count: int) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {_api_path(field, via_request, base_count): messages for field, messages in exc.message_dict.items()}
    )


def _schedule(data: dict[str, Any], job: Job | None) -> schedules.Schedule | None:
    if not any(field in data for field in SCHEDULE_FIELDS):
        return None

    def pick(field: str, current: Any) -> Any:
        return data[field] if field in data else current

    return schedule_from_input(
        kind=pick("schedule_kind", job.schedule_kind if job else ""),
        expression=pick("cron_expression", job.cron_expression if job else "") or "",
        timezone_name=pick("timezone", job.timezone if job else "UTC") or "UTC",
        seconds=pick("interval_seconds", job.interval_seconds if job else None),
        at=pick("run_at", job.run_at if job else None),
    )


def _options(data: dict[str, Any]) -> dict[str, Any]:
    return {field: data[field] for field in JOB_OPTION_FIELDS if field in data}


def job_create_from_input(*, team: Team, data: dict[str, Any], by: Any) -> Job:
    raw_steps, via_request, base_count = _plan_steps(data, None)
    try:
        schedule = _schedule(data, None)
        steps = steps_from_input(steps=raw_steps) if raw_steps else steps_from_input()
        return job_create(
            team=team, natural_id=data["natural_id"], schedule=schedule, steps=steps, created_by=by, **_options(data)
        )
    except ValidationError as exc:
        raise _rekeyed(exc, via_request, base_count) from exc


def job_update_from_input(*, job: Job, data: dict[str, Any]) -> Job:
    raw_steps, via_request, base_count = _plan_steps(data, job)
    if raw_steps is not None:
        _restore_secrets(raw_steps, job)
    try:
        schedule = _schedule(data, job)
        steps = steps_from_input(steps=raw_steps) if raw_steps is not None else None
        options = _options(data)
        if "natural_id" in data:
            options["natural_id"] = data["natural_id"]
        return job_update(job=job, schedule=schedule, steps=steps, **options)
    except ValidationError as exc:
        raise _rekeyed(exc, via_request, base_count) from exc
