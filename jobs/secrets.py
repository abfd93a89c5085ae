"""Secret header values are write-only: they can be replaced or removed, never shown or sent somewhere new.

Editors see the placeholder `[redacted]` (jobs.redact.REDACTED) in place of a secret, and sending it
back keeps the stored value, but only for the same step, the same header and the same origin
(scheme, host and port) of the step's URL, and only while the header is still secret. Otherwise the
stored value is dropped, never moved to the new URL and never un-sealed into plain text, and the
caller is told which were dropped. A header is secret when its name says so (jobs.redact) or when
its stored value is sealed (jobs.crypto): a value that was ever secret stays treated as one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from jobs import templating
from jobs.crypto import PREFIX, encrypt_config
from jobs.redact import REDACTED, is_secret_name

_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Origins are compared with the run's own built-ins (run id, slot) filled in alike on both sides.
_ANY_SLOT = datetime(2000, 1, 1, tzinfo=UTC)
REASONS = {
    "origin": "The step's URL now points at another origin (scheme, host or port); send the value again to keep it.",
    "unmarked": "The header is no longer secret, and a secret is never turned into plain text; send the value again.",
    "missing": "There is no stored value to keep for this header; send the value.",
}


@dataclass(frozen=True)
class DroppedSecret:
    step: str
    header: str
    reason: str  # a key of REASONS

    def as_dict(self) -> dict[str, str]:
        return {"step": self.step, "header": self.header, "reason": self.reason, "message": REASONS[self.reason]}

    def __str__(self) -> str:
        return f"{self.header} (step {self.step}): {REASONS[self.reason]}"


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def url_origin(url: Any) -> str:
    """scheme://host[:port] of a URL as written (templates included), with the scheme's default port left out."""
    try:
        parts = urlsplit(str(url or "").strip())
    except ValueError:
        return str(url)
    scheme = parts.scheme.lower()
    host = parts.netloc.rpartition("@")[2].lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and host.endswith(f":{default}"):
        host = host[: -len(default) - 1]
    return f"{scheme}://{host}"


def is_secret(name: str, value: Any, marked: Iterable[str]) -> bool:
    return is_sealed(value) or is_secret_name(name, tuple(marked))


def shown_headers(headers: Mapping[str, Any], marked: Iterable[str]) -> dict[str, Any]:
    """Headers as anyone may see them: every secret value (by name, or sealed) is the placeholder."""
    marked = tuple(marked)
    return {name: REDACTED if is_secret(name, value, marked) else value for name, value in headers.items()}


def shown_config(config: Mapping[str, Any], marked: Iterable[str]) -> dict[str, Any]:
    headers = config.get("headers") if isinstance(config, Mapping) else None
    if not isinstance(headers, Mapping):
        return dict(config)
    return {**config, "headers": shown_headers(headers, marked)}


def secret_names(marked: Iterable[str], configs: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The names secret when a run is sent: the marked ones and every header whose stored value is sealed."""
    names = [str(name) for name in marked or ()]
    for config in configs:
        headers = config.get("headers") if isinstance(config, Mapping) else None
        names += [name for name, value in (headers or {}).items() if is_sealed(value)]
    return tuple(dict.fromkeys(names))


def context_of(job: Any, run_variables: Mapping[str, Any] | None = None) -> dict[str, str]:
    """What a job's URLs are filled in with, as far as a write can tell: its names and variables, and a run's."""
    return templating.run_context(
        run_id="",
        scheduled_for=_ANY_SLOT,
        job_natural_id=job.natural_id,
        job_name=job.name,
        job_variables=job.variables if isinstance(job.variables, dict) else {},
        run_variables=run_variables,
    )


def _origin(config: Mapping[str, Any], context: Mapping[str, str]) -> str:
    return url_origin(templating.render(str(config.get("url") or ""), context))


def keep_stored_secrets(
    steps: list[dict[str, Any]],
    stored: Mapping[str, Mapping[str, Any]],
    marked: Iterable[str],
    before: Mapping[str, str],
    after: Mapping[str, str],
) -> list[DroppedSecret]:
    """Put the stored value back where a step sends the placeholder, when it may stay; drop it otherwise.

    `steps` are validated step definitions about to be saved (changed in place); `stored` maps step
    names to their configs as stored (sealed); `before` and `after` are the job's context_of() around
    the write, so a variable that moves a URL's host counts as a new origin. Returns what was dropped.
    """
    marked = tuple(marked)
    dropped: list[DroppedSecret] = []
    for step in steps:
        config = step.get("config") or {}
        headers = config.get("headers")
        if not isinstance(headers, dict) or REDACTED not in headers.values():
            continue
        old = stored.get(step["name"]) or {}
        old_headers = {str(name).lower(): value for name, value in (old.get("headers") or {}).items()}
        same_origin = _origin(old, before) == _origin(config, after)
        for name, value in list(headers.items()):
            if value != REDACTED:
                continue
            kept = old_headers.get(name.lower())
            if kept is None:
                reason = "missing"
            elif not is_secret(name, kept, marked):
                headers[name] = kept  # never a secret: it was shown as it is, and may stay
                continue
            elif not is_secret_name(name, marked):
                reason = "unmarked"
            elif not same_origin:
                reason = "origin"
            else:
                headers[name] = kept
                continue
            del headers[name]
            dropped.append(DroppedSecret(step["name"], name, reason))
    return dropped


def guarded(
    config: Mapping[str, Any], step: str, marked: Iterable[str], before: Mapping[str, str], after: Mapping[str, str]
) -> tuple[dict[str, Any], list[DroppedSecret]]:
    """A stored config once the job's secret names, variables or names changed (its steps did not): newly
    secret values sealed; sealed values of headers no longer secret dropped, never un-sealed; and every
    secret dropped if the URL now reaches another origin."""
    marked = tuple(marked)
    headers = config.get("headers") if isinstance(config, Mapping) else None
    if not isinstance(headers, Mapping):
        return dict(config), []
    moved = _origin(config, before) != _origin(config, after)
    gone = {}
    for name, value in headers.items():
        if is_sealed(value) and not is_secret_name(name, marked):
            gone[name] = "unmarked"
        elif moved and is_secret(name, value, marked):
            gone[name] = "origin"
    kept = {name: value for name, value in headers.items() if name not in gone}
    dropped = [DroppedSecret(step, name, reason) for name, reason in gone.items()]
    return encrypt_config({**config, "headers": kept}, marked), dropped


def audit_details(dropped: list[DroppedSecret]) -> dict[str, Any]:
    """What the audit log records of dropped secrets: names only, under a key it keeps (it leaves out any
    key that mentions secrets)."""
    return {"dropped_headers": [f"{d.step}:{d.header}" for d in dropped]} if dropped else {}


def moved_by_variables(job: Any, run_variables: Mapping[str, Any]) -> list[str]:
    """Steps with secret headers whose URL a run's variables would point at another origin.

    Whoever may only run a job must not choose where its secrets go: `https://api.example.com{{ path }}`
    with path = "@evil.test" as a run variable would send them to evil.test.
    """
    marked = tuple(job.secret_headers or ())
    before, after = context_of(job), context_of(job, run_variables)
    moved = []
    for step in job.steps.all():
        headers = (step.config or {}).get("headers") or {}
        if any(is_secret(name, value, marked) for name, value in headers.items()):
            if _origin(step.config, before) != _origin(step.config, after):
                moved.append(step.name)
    return moved
