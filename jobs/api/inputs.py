"""From a validated JobSerializer payload to jobs.services calls, and their errors back to API names."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers

from jobs.models import Job, Team
from jobs.secrets import shown_config
from jobs.steps import sent_config
from jobs.write import FIELDS, job_validate, job_write

# Canonical path (jobs.write.JOB_FIELDS) → where the API takes it, so an error points at what the caller sent.
API_PATHS = {
    "natural_id": "naturalId",
    "name": "name",
    "description": "description",
    "enabled": "enabled",
    "schedule_kind": "schedule.kind",
    "cron_expression": "schedule.expression",
    "timezone": "schedule.timezone",
    "interval_seconds": "schedule.seconds",
    "run_at": "schedule.at",
    "retry_limit": "retry.limit",
    "backoff_strategy": "retry.backoff",
    "backoff_base_seconds": "retry.baseSeconds",
    "overlap_policy": "overlapPolicy",
    "misfire_grace_seconds": "misfireGraceSeconds",
    "jitter_seconds": "jitterSeconds",
    "start_at": "startAt",
    "end_at": "endAt",
    "max_runs": "maxRuns",
    "pause_after_failures": "pauseAfterFailures",
    "after": "after",
    "after_all": "afterAll",
    "after_within_seconds": "afterWithinSeconds",
    "anomaly_window": "anomaly.window",
    "anomaly_min_samples": "anomaly.minSamples",
    "anomaly_duration_k": "anomaly.durationK",
    "anomaly_size_factor": "anomaly.sizeFactor",
    "anomaly_json_field": "anomaly.jsonField",
    "success_statuses": "successRule.statuses",
    "success_body_contains": "successRule.bodyContains",
    "success_body_regex": "successRule.bodyRegex",
    "success_max_latency_ms": "successRule.maxLatencyMs",
    "follow_redirects": "successRule.followRedirects",
    "keep_runs": "retention.keepRuns",
    "keep_days": "retention.keepDays",
    "keep_failed_days": "retention.keepFailedDays",
    "variables": "variables",
    "secret_headers": "secretHeaders",
    "calendars": "calendars",
}
_STEP_PATH_RE = re.compile(r"^steps\[(\d+)\](.*)$")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _existing_steps(job: Job) -> list[dict[str, Any]]:
    """The job's steps as a caller sees them (secrets as the placeholder, which keeps them when saved again)."""
    return [
        {
            "name": s.name,
            "kind": s.kind,
            "depends_on": s.depends_on,
            "run_if": s.run_if,
            "config": sent_config(s.kind, shown_config(s.config, job.secret_headers or ())),
        }
        for s in job.steps.all()
    ]


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


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    return {path: data[path] for path in FIELDS if path in data}


def job_create_from_input(*, team: Team, data: dict[str, Any], by: Any, save: bool = True) -> Job | None:
    """Create a job from a JobSerializer's validated data; `save=False` only checks it (raises or returns None)."""
    raw_steps, via_request, base_count = _plan_steps(data, None)
    try:
        if not save:
            job_validate(team=team, job=None, fields=_fields(data), steps=raw_steps)
            return None
        return job_write(team=team, fields=_fields(data), steps=raw_steps, by=by)
    except ValidationError as exc:
        if raw_steps is None and "steps" in exc.message_dict:
            messages = {**exc.message_dict, "request": ["Give a request (at least a URL) or a list of steps."]}
            del messages["steps"]
            exc = ValidationError(messages)
        raise _rekeyed(exc, via_request, base_count) from exc


def job_update_from_input(*, job: Job, data: dict[str, Any], save: bool = True) -> Job | None:
    raw_steps, via_request, base_count = _plan_steps(data, job)
    try:
        if not save:
            job_validate(team=job.team, job=job, fields=_fields(data), steps=raw_steps)
            return None
        return job_write(team=job.team, job=job, fields=_fields(data), steps=raw_steps)
    except ValidationError as exc:
        raise _rekeyed(exc, via_request, base_count) from exc


def _without_errors(data: Any, errors: Any) -> Any:
    """`data` less every part that `errors` (a DRF error detail) points at."""
    if isinstance(errors, dict) and isinstance(data, dict):
        kept = dict(data)
        for key, inner in errors.items():
            if key in kept:
                if isinstance(inner, dict):
                    kept[key] = _without_errors(kept[key], inner)
                else:
                    del kept[key]
        return kept
    if isinstance(errors, dict) and isinstance(data, list):
        return [_without_errors(item, errors[index]) if index in errors else item for index, item in enumerate(data)]
    return data


def parsed_anyway(serializer: serializers.Serializer) -> dict[str, Any] | None:
    """What parses of an invalid payload: the fields in error left out (as partial input), or None.

    So that the service checks the rest and the caller hears of every error at once, not in stages.
    """
    data: Any = serializer.initial_data
    errors: Any = serializer.errors
    for _ in range(3):
        data = _without_errors(data, errors)
        retry = type(serializer)(data=data, partial=True)
        if retry.is_valid():
            return dict(retry.validated_data)
        errors = retry.errors
    return None


# The manifest (jobs.manifest.entries) takes each job in the API's shape, so it reads it the same way.
steps_of_input = _plan_steps
api_path = _api_path
fields_of_input = _fields
