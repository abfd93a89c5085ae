"""Step definitions: validation of a job's steps and their dependency graph."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from jobs import templating
from jobs.errors import Errors

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 15 * 60 * 1000
STEP_KINDS = ("http", "email", "webhook")
RUN_IF = ("on_success", "on_failure", "always")
_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{1,100}$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
# jobs.crypto's sealed values ("enc:v1:<token>"): never taken from a caller, who could copy one to another job.
_SEALED_RE = re.compile(r"^enc:v\d+:")
# Framing and hop-by-hop headers: the HTTP client sets them for the request it sends. A job that sets
# them too could frame one request as two on the way (Content-Length with Transfer-Encoding).
RESERVED_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "host", "te", "upgrade", "keep-alive"}
    | {"proxy-connection", "trailer"}
)


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
    if len(headers) > settings.HOURGLASS_MAX_HEADERS:
        raise ValidationError(
            {field: f"At most {settings.HOURGLASS_MAX_HEADERS} headers per step, not {len(headers)}."}
        )
    clean: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
            raise ValidationError({field: f"Invalid header name {name!r}."})
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError({field: f"Header {name!r} is set by Hourglass for each request; leave it out."})
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError({field: f"Header {name!r} must have a string value."})
        value = str(value)
        if any(ch in value for ch in "\r\n\x00"):
            raise ValidationError({field: f"Header {name!r} must not contain CR, LF or NUL characters."})
        if _SEALED_RE.match(value):
            raise ValidationError(
                {
                    field: f"Header {name!r}: a value like this is how a stored secret is kept, not a secret; send the"
                    " secret itself, or [redacted] to keep the one stored."
                }
            )
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
    if any(ch in re.sub(r"\{\{.*?\}\}", "x", url) for ch in "\r\n\x00 "):
        raise ValidationError({field: "The URL must not contain spaces or control characters."})
    return url


# The settings each kind of step takes (the step field table: jobs.write and docs/api.md name the same).
# A webhook always POSTs the run's summary as JSON (jobs.engine.notify), so it takes no body, and a
# method only as "POST".
CONFIG_KEYS = {
    "http": ("method", "url", "headers", "body", "timeout_ms"),
    "webhook": ("method", "url", "headers", "timeout_ms", "after_failures", "on_recovery"),
    "email": ("recipients", "subject", "body", "after_failures", "on_recovery"),
}
CONFIG_FIELDS = tuple(dict.fromkeys(key for keys in CONFIG_KEYS.values() for key in keys))
STEP_FIELDS = ("name", "kind", "run_if", "depends_on", "config")
WEBHOOK_METHOD = "POST"
DEFAULT_SUBJECT = "Hourglass: {{ job.natural_id }} {{ outcome }}"
# The strings of each kind whose {{ names }} are filled in at run time.
TEMPLATED = {"http": ("url", "body"), "webhook": ("url",), "email": ("subject", "body")}


def _method(value: Any, kind: str) -> str:
    method = str(value or (WEBHOOK_METHOD if kind == "webhook" else "GET")).upper()
    if method not in HTTP_METHODS:
        raise ValidationError(f"Unsupported method {method!r}; use one of {', '.join(HTTP_METHODS)}.")
    if kind == "webhook" and method != WEBHOOK_METHOD:
        raise ValidationError("A webhook step always sends a POST with the run's summary as JSON.")
    return method


def _timeout_ms(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TIMEOUT_MS:
        raise ValidationError(f"The timeout must be 1–{MAX_TIMEOUT_MS} ms.")
    return value


def _body(value: Any, kind: str) -> str:
    body = "" if value is None else value
    if not isinstance(body, str):
        raise ValidationError("The body must be a string (send JSON as text).")
    if kind == "webhook" and body:
        raise ValidationError("A webhook step sends the run's summary as its body; leave the body out.")
    size, limit = len(body.encode("utf-8", "surrogatepass")), settings.HOURGLASS_MAX_BODY_BYTES
    if size > limit:
        raise ValidationError(f"The body is {size} bytes; at most {limit} are allowed.")
    return body


def _recipients(value: Any) -> list[str]:
    recipients = value or []
    if isinstance(recipients, str):
        recipients = [r.strip() for r in recipients.split(",") if r.strip()]
    if not isinstance(recipients, list) or not recipients:
        raise ValidationError("Give one or more valid email addresses.")
    bad = [str(r) for r in recipients if not (isinstance(r, str) and _EMAIL_RE.match(r))]
    if bad:
        raise ValidationError(f"Give one or more valid email addresses; not one: {', '.join(map(repr, bad))}.")
    return recipients


def _subject(value: Any) -> str:
    subject = str(value or DEFAULT_SUBJECT)
    if any(ch in subject for ch in "\r\n\x00"):
        raise ValidationError("The subject must fit on one line.")
    if len(subject) > 500:
        raise ValidationError("At most 500 characters.")
    return subject


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("Must be true or false.")
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("Must be a whole number, 1 or more.")
    return value


def clean_config(config: Any, kind: str, field: str, errors: Errors) -> dict[str, Any]:
    """A step's settings for its kind, cleaned; every problem goes to `errors` under `field`.<key>."""
    if not isinstance(config, dict):
        errors.add(field, "The step's settings must be an object.")
        return {}
    keys = CONFIG_KEYS[kind]
    for key in config:
        if key not in keys:
            errors.add(f"{field}.{key}", f"Not a setting of a{'n' if kind == 'email' else ''} {kind} step.")
    rules: dict[str, tuple[Any, ...]] = {
        "method": (_method, config.get("method"), kind),
        "url": (validate_url, config.get("url"), ""),
        "headers": (validate_headers, config.get("headers"), ""),
        "body": (_body, config.get("body"), kind),
        "timeout_ms": (_timeout_ms, config.get("timeout_ms", DEFAULT_TIMEOUT_MS)),
        "recipients": (_recipients, config.get("recipients")),
        "subject": (_subject, config.get("subject")),
        "after_failures": (_positive_int, config.get("after_failures", 1)),
        "on_recovery": (_boolean, config.get("on_recovery", False)),
    }
    clean: dict[str, Any] = {}
    for key in keys:
        rule, *args = rules[key]
        if rule in (validate_url, validate_headers):
            args = [args[0], f"{field}.{key}"]
        clean[key] = errors.check(f"{field}.{key}", rule, *args)
    return clean


def validate_http_config(config: Any, field: str) -> dict[str, Any]:
    """One HTTP request's settings (the API's `request` shortcut), or a ValidationError with every problem."""
    errors = Errors()
    clean = clean_config(config, "http", field, errors)
    errors.raise_any()
    return clean


def sent_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """A stored config as the step sends it: a webhook's method is always POST and it has no body
    (configs stored before this rule said GET and kept an unused body)."""
    if kind != "webhook" or not isinstance(config, dict):
        return config
    shown = {key: value for key, value in config.items() if key in CONFIG_KEYS["webhook"]}
    return {**shown, "method": WEBHOOK_METHOD}


def template_errors(step: dict[str, Any], field: str, known: Iterable[str]) -> dict[str, str]:
    """{path: message} for each templated setting of a cleaned step that names what a run will not have."""
    kind = step["kind"]
    known = (*known, *(templating.EMAIL_NAMES if kind == "email" else ()))
    config = step["config"]
    found: dict[str, str] = {}
    texts = [(key, config.get(key)) for key in TEMPLATED[kind]]
    texts += [("headers", value) for value in (config.get("headers") or {}).values()] if kind != "email" else []
    for key, text in texts:
        names = templating.unknown_names(str(text or ""), known) if isinstance(text, str) else []
        if names and f"{field}.config.{key}" not in found:
            listed = ", ".join("{{ %s }}" % name for name in names)  # noqa: UP031 - braces are the point
            found[f"{field}.config.{key}"] = (
                f"Unknown variable{'s' if len(names) > 1 else ''} {listed}: define it in the job's variables,"
                " or use a built-in name (docs/api.md, Templates)."
            )
    return found


def clean_steps(steps: Any, errors: Errors) -> list[dict[str, Any]]:
    """Step definitions cleaned, in dependency order; every problem goes to `errors` ("steps[1].config.url")."""
    found = Errors()
    clean = _clean_steps(steps, found)
    for path, messages in found.messages.items():
        for message in messages:
            errors.add(path, message)
    return [] if found else clean


def _clean_steps(steps: Any, errors: Errors) -> list[dict[str, Any]]:
    if not isinstance(steps, list) or not steps:
        errors.add("steps", "A job needs at least one step.")
        return []
    if len(steps) > settings.HOURGLASS_MAX_STEPS:
        errors.add("steps", f"At most {settings.HOURGLASS_MAX_STEPS} steps per job, not {len(steps)}.")
        return []
    by_name: dict[str, dict[str, Any]] = {}
    index_of: dict[str, int] = {}
    for index, raw in enumerate(steps):
        field = f"steps[{index}]"
        if not isinstance(raw, dict):
            errors.add(field, "Each step must be an object.")
            continue
        for key in raw:
            if key not in STEP_FIELDS:
                errors.add(f"{field}.{key}", "Unknown field.")
        name = str(raw.get("name") or ("main" if index == 0 else f"step-{index + 1}"))
        if not _NAME_RE.match(name):
            errors.add(f"{field}.name", "Use 1–100 letters, digits, '.', '_' or '-'.")
        elif name in by_name:
            errors.add(f"{field}.name", f"Step name {name!r} is used twice.")
        kind = raw.get("kind") or "http"
        if kind not in STEP_KINDS:
            errors.add(f"{field}.kind", f"Unknown step kind {kind!r}; use one of {', '.join(STEP_KINDS)}.")
        run_if = raw.get("run_if") or "on_success"
        if run_if not in RUN_IF:
            errors.add(f"{field}.run_if", f"Unknown run_if {run_if!r}; use one of {', '.join(RUN_IF)}.")
        depends_on = raw.get("depends_on") or []
        if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
            errors.add(f"{field}.depends_on", "depends_on must be a list of step names.")
            depends_on = []
        known_kind = kind if kind in STEP_KINDS else "http"
        config = clean_config(raw.get("config") or {}, known_kind, f"{field}.config", errors)
        if name not in by_name:
            index_of[name] = index
            by_name[name] = {
                "name": name,
                "kind": kind,
                "run_if": run_if,
                "depends_on": sorted(set(depends_on)),
                "config": config,
            }
    for name, spec in by_name.items():
        unknown = sorted(set(spec["depends_on"]) - set(by_name))
        if unknown:
            errors.add(
                f"steps[{index_of[name]}].depends_on",
                f"Step {name!r} depends on unknown step(s): {', '.join(map(repr, unknown))}.",
            )
    if errors:
        return []
    # Keep the order given, except that notifications come after the requests they report on.
    priority = {name: (spec["kind"] != "http", index) for index, (name, spec) in enumerate(by_name.items())}
    try:
        order = topological_order({name: spec["depends_on"] for name, spec in by_name.items()}, priority)
    except ValidationError as exc:
        errors.merge(exc)
        return []
    return [dict(by_name[name], position=position) for position, name in enumerate(order)]


def validate_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate step definitions and return them cleaned, in dependency order; every error at once."""
    errors = Errors()
    clean = clean_steps(steps, errors)
    errors.raise_any()
    return clean
