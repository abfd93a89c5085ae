"""Step definitions: validation of a job's steps and their dependency graph."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 15 * 60 * 1000
STEP_KINDS = ("http", "email", "webhook")
RUN_IF = ("on_success", "on_failure", "always")
_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{1,100}$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


def topological_order(
    dependencies: Mapping[str, Iterable[str]], priority: Mapping[str, Any] | None = None
) -> list[str]:
    """Names ordered so each comes after its dependencies; ties broken by `priority`, then name.

    Raises ValidationError naming the steps in a cycle or an unknown dependency.
    """
    for name, deps in dependencies.items():
        unknown = sorted(set(deps) - set(dependencies))
        if unknown:
            raise ValidationError(
                {"steps": f"Step {name!r} depends on unknown step(s): {', '.join(map(repr, unknown))}."}
            )
    waiting = {name: set(deps) for name, deps in dependencies.items()}
    dependants: dict[str, list[str]] = {name: [] for name in dependencies}
    for name, deps in waiting.items():
        for dep in deps:
            dependants[dep].append(name)
    rank = priority or {}
    ready = [(rank.get(name, 0), name) for name, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for child in dependants[name]:
            waiting[child].discard(name)
            if not waiting[child]:
                heapq.heappush(ready, (rank.get(child, 0), child))
    if len(order) != len(dependencies):
        cycle = sorted(name for name in dependencies if name not in order)
        raise ValidationError({"steps": f"Steps form a dependency cycle: {', '.join(cycle)}."})
    return order


def validate_headers(headers: Any, field: str) -> dict[str, str]:
    if headers in (None, ""):
        return {}
    if not isinstance(headers, dict):
        raise ValidationError({field: "Headers must be an object of name: value."})
    clean: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
            raise ValidationError({field: f"Invalid header name {name!r}."})
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError({field: f"Header {name!r} must have a string value."})
        value = str(value)
        if any(ch in value for ch in "\r\n\x00"):
            raise ValidationError({field: f"Header {name!r} must not contain CR, LF or NUL characters."})
        clean[name] = value
    return clean


def validate_url(url: Any, field: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationError({field: "A URL is required."})
    url = url.strip()
    # Variables such as {{ run_id }} are substituted at run time; check the shape around them.
    parts = urlsplit(re.sub(r"\{\{.*?\}\}", "x", url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError({field: f"Enter an absolute http:// or https:// URL, not {url!r}."})
    if any(ch in url for ch in "\r\n\x00 "):
        raise ValidationError({field: "The URL must not contain spaces or control characters."})
    return url


def validate_http_config(config: Any, field: str) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ValidationError({field: "The request must be an object."})
    method = str(config.get("method") or "GET").upper()
    if method not in HTTP_METHODS:
        raise ValidationError(
            {f"{field}.method": f"Unsupported method {method!r}; use one of {', '.join(HTTP_METHODS)}."}
        )
    timeout_ms = config.get("timeout_ms", DEFAULT_TIMEOUT_MS)
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or not 1 <= timeout_ms <= MAX_TIMEOUT_MS:
        raise ValidationError({f"{field}.timeout_ms": f"The timeout must be 1–{MAX_TIMEOUT_MS} ms."})
    body = config.get("body", "")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise ValidationError({f"{field}.body": "The body must be a string (send JSON as text)."})
    return {
        "method": method,
        "url": validate_url(config.get("url"), f"{field}.url"),
        "headers": validate_headers(config.get("headers"), f"{field}.headers"),
        "body": body,
        "timeout_ms": timeout_ms,
    }


def validate_email_config(config: Any, field: str) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ValidationError({field: "The email settings must be an object."})
    recipients = config.get("recipients") or []
    if isinstance(recipients, str):
        recipients = [r.strip() for r in recipients.split(",") if r.strip()]
    if not recipients or not all(isinstance(r, str) and _EMAIL_RE.match(r) for r in recipients):
        raise ValidationError({f"{field}.recipients": "Give one or more valid email addresses."})
    return {
        "recipients": recipients,
        "subject": str(config.get("subject") or "Hourglass: {{ job.natural_id }} {{ outcome }}"),
        "body": str(config.get("body") or ""),
    }


def _notification_options(config: dict[str, Any], field: str) -> dict[str, Any]:
    """Email and webhook steps notify after N consecutive failures, and optionally on recovery."""
    return {
        "after_failures": _positive_int(config.get("after_failures", 1), f"{field}.after_failures"),
        "on_recovery": bool(config.get("on_recovery", False)),
    }


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError({field: "Must be a whole number, 1 or more."})
    return value


def validate_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate step definitions and return them cleaned, in dependency order."""
    if not steps:
        raise ValidationError({"steps": "A job needs at least one step."})
    by_name: dict[str, dict[str, Any]] = {}
    for index, raw in enumerate(steps):
        field = f"steps[{index}]"
        if not isinstance(raw, dict):
            raise ValidationError({field: "Each step must be an object."})
        name = str(raw.get("name") or ("main" if index == 0 else f"step-{index + 1}"))
        if not _NAME_RE.match(name):
            raise ValidationError({f"{field}.name": "Use 1–100 letters, digits, '.', '_' or '-'."})
        if name in by_name:
            raise ValidationError({f"{field}.name": f"Step name {name!r} is used twice."})
        kind = raw.get("kind") or "http"
        if kind not in STEP_KINDS:
            raise ValidationError({f"{field}.kind": f"Unknown step kind {kind!r}; use one of {', '.join(STEP_KINDS)}."})
        run_if = raw.get("run_if") or "on_success"
        if run_if not in RUN_IF:
            raise ValidationError({f"{field}.run_if": f"Unknown run_if {run_if!r}; use one of {', '.join(RUN_IF)}."})
        depends_on = raw.get("depends_on") or []
        if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
            raise ValidationError({f"{field}.depends_on": "depends_on must be a list of step names."})
        raw_config = raw.get("config") or {}
        if kind == "email":
            config = validate_email_config(raw_config, f"{field}.config")
        else:
            config = validate_http_config(raw_config, f"{field}.config")
        if kind != "http":
            config.update(_notification_options(raw_config, f"{field}.config"))
        by_name[name] = {
            "name": name,
            "kind": kind,
            "run_if": run_if,
            "depends_on": sorted(set(depends_on)),
            "config": config,
        }
    # Keep the order given, except that notifications come after the requests they report on.
    priority = {name: (spec["kind"] != "http", index) for index, (name, spec) in enumerate(by_name.items())}
    order = topological_order({name: spec["depends_on"] for name, spec in by_name.items()}, priority)
    return [dict(by_name[name], position=position) for position, name in enumerate(order)]
