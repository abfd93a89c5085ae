"""Variable substitution in a step's URL, headers and body: `{{ name }}`, one pass, no logic."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

_VARIABLE_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
# Anything between double braces, so a name the pattern above would not read ("{{ 1x }}") is still caught.
_PLACEHOLDER_RE = re.compile(r"\{\{(.*?)\}\}")
# What every step of a run can name (docs/api.md, "Templates"), besides the job's variables.
BUILTIN_NAMES = ("run_id", "scheduled_for", "attempt", "job.natural_id", "job.name")
# What an email step can name besides: the run's outcome (jobs.engine.notify).
EMAIL_NAMES = ("outcome", "error", "http_status", "failures")
_HEADER_UNSAFE_RE = re.compile(r"[\r\n\x00]")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def run_context(
    *,
    run_id: str,
    scheduled_for: datetime,
    job_natural_id: str,
    job_name: str = "",
    attempt: int = 1,
    job_variables: Mapping[str, Any] | None = None,
    run_variables: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The variables a run's steps see; the trigger's (run) variables win over the job's."""
    context = {name: _text(value) for name, value in (job_variables or {}).items()}
    context.update({name: _text(value) for name, value in (run_variables or {}).items()})
    context.update(
        {
            "run_id": run_id,
            "scheduled_for": scheduled_for.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "attempt": str(attempt),
            "job.natural_id": job_natural_id,
            "job.name": job_name or job_natural_id,
        }
    )
    return context


def unknown_names(text: str, known: Iterable[str]) -> list[str]:
    """The names `{{ ... }}` placeholders in `text` use that are not in `known`, in order, once each."""
    known = set(known)
    names = (match.group(1).strip() for match in _PLACEHOLDER_RE.finditer(text))
    return list(dict.fromkeys(name for name in names if name not in known))


def render(text: str, context: Mapping[str, str]) -> str:
    """Replace each known `{{ name }}`; unknown names stay as written, so a typo is visible."""
    return _VARIABLE_RE.sub(lambda m: context.get(m.group(1), m.group(0)), text)


def render_header(value: str, context: Mapping[str, str]) -> str:
    # A variable may come from an API trigger; never let it split a header line.
    return _HEADER_UNSAFE_RE.sub(" ", render(value, context))
