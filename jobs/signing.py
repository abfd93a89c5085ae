"""Request signing: targets check that a request came from Hourglass and is not a replay.

Header: `Hourglass-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed by the
team's signing secret. While a secret is being rotated, both the new and the previous secret sign,
so the header carries two `v1=` values and a target holding either secret accepts it.

A target verifies with a few lines (Python):

    import hashlib, hmac, time
    def verified(header: str, body: bytes, secret: str, tolerance_s: int = 300) -> bool:
        fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
        t = next(int(v) for k, v in fields if k == "t")
        expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        fresh = abs(time.time() - t) <= tolerance_s
        return fresh and any(k == "v1" and hmac.compare_digest(v, expected) for k, v in fields)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "Hourglass-Signature"


def sign(body: bytes, secret: str, t: int) -> str:
    """Hex HMAC-SHA256 of "<t>.<body>" keyed by `secret`."""
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secrets: Iterable[str], t: int) -> str:
    """The header value: the timestamp, then one v1 signature per (non-empty) secret."""
    return ",".join([f"t={t}", *(f"v1={sign(body, secret, t)}" for secret in secrets if secret)])


def verify(header: str, body: bytes, secrets: list[str], tolerance_s: int = 300, now: float | None = None) -> bool:
    """True when one of the header's v1 signatures matches one of `secrets` and t is fresh."""
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
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = [sign(body, secret, timestamp) for secret in secrets if secret]
    return any(hmac.compare_digest(got, want) for got in signatures for want in expected)
