"""Request signing: targets check that a request came from Hourglass, for them, and is not a replay.

Header: `Hourglass-Signature: t=<unix seconds>,v1=<hex>,v2=<hex>`, keyed by the team's signing secret.

- v2 (current): HMAC-SHA256 of `"<t>\\n<METHOD>\\n<url>\\n" + body`. The URL is the one the request
  was sent to (each redirect hop is signed for its own), so a request captured by one target cannot
  be replayed to another, nor with another method. Newlines cannot occur in a method or in a URL as
  sent, so the fields cannot be shifted into one another.
- v1 (deprecated, kept for one release): HMAC-SHA256 of `"<t>.<body>"`.

After a rotation the previous secret keeps signing until its grace period ends (24 h by default),
so the header carries each version twice and a target holding either secret accepts it. The
secrets are stored sealed (jobs.crypto); `team_secrets` opens them. README.md shows a verifier.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from yarl import URL

from jobs.crypto import decrypt_value, fernet

logger = logging.getLogger(__name__)

HEADER = "Hourglass-Signature"


def signed_url(url: URL | str) -> str:
    """The URL as it goes on the wire: no user info (sent as Authorization) and no fragment (never sent)."""
    return str(URL(url).with_user(None).with_fragment(None))


def _opened(stored: str) -> str:
    """The secret in clear text, or "" when it cannot be opened (logged): a wrong key must not stop every run."""
    return _opened_with(stored, fernet())


@functools.lru_cache(maxsize=4096)
def _opened_with(stored: str, key: Any) -> str:
    # A sealed token is unique to its secret, so opening it once per process (and key) is enough.
    try:
        return decrypt_value(stored)
    except ValueError:
        logger.error("A team's signing secret cannot be opened (was HOURGLASS_ENCRYPTION_KEY changed?); rotate it")
        return ""


def team_secrets(
    current: str, previous: str = "", previous_expires_at: datetime | None = None, *, now: datetime
) -> tuple[str, ...]:
    """The secrets that sign a team's requests at `now`, opened: the current one, then the previous one
    while its grace period lasts (no expiry: it signs until the next rotation). Plain values, from before
    secrets were sealed, are taken as they are; one that cannot be opened is left out."""
    stored = [current]
    if previous and (previous_expires_at is None or now < previous_expires_at):
        stored.append(previous)
    return tuple(secret for secret in (_opened(value) for value in stored if value) if secret)


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_v1(body: bytes, secret: str, t: int) -> str:
    """Hex HMAC-SHA256 of "<t>.<body>" keyed by `secret` (deprecated: it binds neither method nor URL)."""
    return _hmac(secret, f"{t}.".encode() + body)


def sign_v2(method: str, url: URL | str, body: bytes, secret: str, t: int) -> str:
    """Hex HMAC-SHA256 of "<t>\\n<METHOD>\\n<url>\\n<body>" keyed by `secret`."""
    return _hmac(secret, f"{t}\n{method.upper()}\n{signed_url(url)}\n".encode() + body)


def signature_header(method: str, url: URL | str, body: bytes, secrets: Iterable[str], t: int) -> str:
    """The header value: the timestamp, then v1 and v2 for each (non-empty) secret."""
    parts = [f"t={t}"]
    for secret in secrets:
        if secret:
            parts += [f"v1={sign_v1(body, secret, t)}", f"v2={sign_v2(method, url, body, secret, t)}"]
    return ",".join(parts)


def _verify(
    header: str, version: str, sign: Callable[[str, int], str], secrets: list[str], tolerance_s: int, now: float | None
) -> bool:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif name == version:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = [sign(secret, timestamp) for secret in secrets if secret]
    return any(hmac.compare_digest(got, want) for got in signatures for want in expected)


def verify(
    header: str,
    *,
    method: str,
    url: URL | str,
    body: bytes,
    secrets: list[str],
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """True when one of the header's v2 signatures matches one of `secrets` and t is fresh."""
    return _verify(header, "v2", lambda secret, t: sign_v2(method, url, body, secret, t), secrets, tolerance_s, now)


def verify_v1(header: str, body: bytes, secrets: list[str], tolerance_s: int = 300, now: float | None = None) -> bool:
    """The deprecated v1 check: a v1 signature of `body` by one of `secrets`, with a fresh t."""
    return _verify(header, "v1", lambda secret, t: sign_v1(body, secret, t), secrets, tolerance_s, now)
