"""Redaction of secrets in recorded requests, shared by the executor, the API and the dashboard."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# A header (or query parameter) whose name contains one of these words carries a credential.
SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "auth", "credential", "session")
# Names that contain a secret word but carry nothing secret: the run id, and the signature,
# which a target needs to see to debug verification.
NOT_SECRET = frozenset({"idempotency-key", "hourglass-signature"})


def is_secret_name(name: str, extra: Iterable[str] = ()) -> bool:
    lowered = name.strip().lower()
    if lowered in {e.strip().lower() for e in extra}:
        return True
    if lowered in NOT_SECRET:
        return False
    return lowered in SECRET_HEADERS or any(word in lowered for word in SECRET_WORDS)


def redact_headers(headers: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """A copy of `headers` with secret values replaced; `extra` names the job's own secret headers."""
    extra = tuple(extra)
    return {name: REDACTED if is_secret_name(name, extra) else value for name, value in headers.items()}


def redact_url(url: str, extra: Iterable[str] = ()) -> str:
    """Hide a password in the user-info part and secret-looking query parameters."""
    return _redacted_url(url, tuple(extra))


@functools.lru_cache(maxsize=8192)
def _redacted_url(url: str, extra: tuple[str, ...]) -> str:
    # A pure function of its arguments; the engine redacts every run's URL, most of them the same.
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{REDACTED}@{hostport}"
    query = parts.query
    if query:
        extra = tuple(extra)
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(k, extra) for k, _ in pairs):
            query = urlencode([(k, REDACTED if is_secret_name(k, extra) else v) for k, v in pairs], safe="[]")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_request(request: Mapping[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
    """A request snapshot (method, url, headers, body, ...) safe to store and show."""
    extra = tuple(extra)
    clean = dict(request)
    if isinstance(clean.get("headers"), Mapping):
        clean["headers"] = redact_headers(clean["headers"], extra)
    if isinstance(clean.get("url"), str):
        clean["url"] = redact_url(clean["url"], extra)
    return clean
