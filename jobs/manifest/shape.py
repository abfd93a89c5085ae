"""A job's state written as a manifest entry: what export writes, and what the plan compares (every field)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from jobs import schedules
from jobs.crypto import decrypt_value
from jobs.errors import Errors
from jobs.secrets import is_secret
from jobs.steps import CONFIG_KEYS, clean_config
from jobs.write import FIELDS

STORED = "stored"
# What a step's settings are when left out, by kind (method, headers, body, timeout…), so export leaves them out.
_CONFIG_DEFAULTS = {kind: clean_config({}, kind, "", Errors()) for kind in CONFIG_KEYS}
_CAMEL = {"timeout_ms": "timeoutMs", "after_failures": "afterFailures", "on_recovery": "onRecovery"}


def _camel_config(config: Mapping[str, Any], kind: str, full: bool, header: Callable[[str, Any], Any]) -> dict:
    out: dict[str, Any] = {}
    defaults = _CONFIG_DEFAULTS.get(kind, {})
    for key in CONFIG_KEYS.get(kind, ()):
        if key not in config:
            continue
        value = config[key]
        if key == "method" and kind == "webhook":
            continue  # always POST
        if not full and key in defaults and defaults[key] == value:
            continue
        if key == "headers":
            value = {name: header(name, v) for name, v in (value or {}).items()}
        out[_CAMEL.get(key, key)] = value
    return out


def _groups(state: Mapping[str, Any], full: bool) -> dict[str, Any]:
    def at(path: str) -> Any:
        value = state[path]
        if isinstance(value, datetime):
            value = value.isoformat().replace("+00:00", "Z")
        return value

    def group(pairs: list[tuple[str, str]]) -> dict[str, Any]:
        return {name: at(path) for name, path in pairs if full or state[path] != FIELDS[path].default}

    kind = state["schedule_kind"]
    schedule = {"kind": kind}
    if kind == schedules.CRON:
        schedule["expression"] = state["cron_expression"]
    if kind == schedules.INTERVAL:
        schedule["seconds"] = state["interval_seconds"]
    schedule["timezone"] = state["timezone"]
    if state["run_at"] is not None:
        schedule["at"] = at("run_at")
    return {
        "name": state["name"] if full or state["name"] != state["natural_id"] else None,
        "description": at("description") if full or state["description"] else None,
        "enabled": state["enabled"] if full or not state["enabled"] else None,
        "schedule": schedule,
        "retry": group(
            [("limit", "retry_limit"), ("backoff", "backoff_strategy"), ("baseSeconds", "backoff_base_seconds")]
        ),
        "overlapPolicy": at("overlap_policy") if full or state["overlap_policy"] != "allow" else None,
        "misfireGraceSeconds": state["misfire_grace_seconds"]
        if full or state["misfire_grace_seconds"] != FIELDS["misfire_grace_seconds"].default
        else None,
        "jitterSeconds": state["jitter_seconds"] if full or state["jitter_seconds"] else None,
        "startAt": at("start_at") if full or state["start_at"] else None,
        "endAt": at("end_at") if full or state["end_at"] else None,
        "maxRuns": state["max_runs"] if full or state["max_runs"] else None,
        "pauseAfterFailures": state["pause_after_failures"] if full or state["pause_after_failures"] else None,
        "after": [dict(entry) for entry in state["after"]] if full or state["after"] else None,
        "afterAll": state["after_all"] if full or state["after_all"] else None,
        "afterWithinSeconds": state["after_within_seconds"] if full or state["after_within_seconds"] else None,
        "successRule": group(
            [
                ("statuses", "success_statuses"),
                ("bodyContains", "success_body_contains"),
                ("bodyRegex", "success_body_regex"),
                ("maxLatencyMs", "success_max_latency_ms"),
                ("followRedirects", "follow_redirects"),
            ]
        ),
        "retention": group(
            [("keepRuns", "keep_runs"), ("keepDays", "keep_days"), ("keepFailedDays", "keep_failed_days")]
        ),
        "anomaly": group(
            [
                ("window", "anomaly_window"),
                ("minSamples", "anomaly_min_samples"),
                ("durationK", "anomaly_duration_k"),
                ("sizeFactor", "anomaly_size_factor"),
                ("jsonField", "anomaly_json_field"),
            ]
        ),
        "variables": state["variables"] if full or state["variables"] else None,
        "secretHeaders": list(state["secret_headers"]) if full or state["secret_headers"] else None,
        "calendars": [{"calendar": c["calendar"], "mode": c["mode"]} for c in state.get("calendars") or []]
        if full or state.get("calendars")
        else None,
    }


def is_shortcut(steps: list[Mapping[str, Any]]) -> bool:
    """One HTTP step named main with nothing special: written as `request`."""
    return (
        len(steps) == 1
        and steps[0]["name"] == "main"
        and steps[0]["kind"] == "http"
        and not steps[0]["depends_on"]
        and steps[0]["run_if"] == "on_success"
    )


def entry_of(
    state: Mapping[str, Any], *, full: bool = False, header: Callable[[str, Any], Any], shortcut: bool | None = None
) -> dict[str, Any]:
    """A job's state as a manifest entry: defaults left out unless `full`; `header` writes each header value."""
    groups = _groups(state, full)
    steps = state["steps"]
    use_request = is_shortcut(steps) if shortcut is None else shortcut
    entry: dict[str, Any] = {}
    for key in ("name", "description", "enabled", "schedule"):
        if groups[key] is not None:
            entry[key] = groups[key]
    if use_request:
        entry["request"] = _camel_config(steps[0]["config"], "http", full, header)
    else:
        entry["steps"] = []
        for step in steps:
            item: dict[str, Any] = {"name": step["name"], "kind": step["kind"]}
            if full or step["depends_on"]:
                item["dependsOn"] = list(step["depends_on"])
            if full or step["run_if"] != "on_success":
                item["runIf"] = step["run_if"]
            item["config"] = _camel_config(step["config"], step["kind"], full, header)
            entry["steps"].append(item)
    for key in (
        "retry",
        "overlapPolicy",
        "misfireGraceSeconds",
        "jitterSeconds",
        "startAt",
        "endAt",
        "maxRuns",
        "pauseAfterFailures",
        "calendars",
        "after",
        "afterAll",
        "afterWithinSeconds",
        "successRule",
        "retention",
        "anomaly",
        "variables",
        "secretHeaders",
    ):
        value = groups[key]
        if value is not None and (full or value != {}):
            entry[key] = value
    return entry


def exported_header(marked: Any) -> Callable[[str, Any], Any]:
    """Export's header values: a secret one (by name, marked, or sealed) as {secretFrom: stored}."""
    names = tuple(marked or ())

    def header(name: str, value: Any) -> Any:
        return {"secretFrom": STORED} if is_secret(name, value, names) else value

    return header


def plain(value: Any) -> Any:
    """A stored header value as sent (a sealed one opened), for comparing only."""
    return decrypt_value(value)
