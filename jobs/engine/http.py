"""One outbound HTTP request: signed, SSRF-guarded on every hop, bounded in time and in memory."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from jobs.engine import plans, signing, tracing
from jobs.engine.plans import OutboundRequest
from jobs.engine.ssrf import BlockedError, ConnectionGuard, TargetPolicy, blocked_reason
from jobs.engine.success import MATCH_CAP_BYTES
from jobs.redact import is_secret_name

logger = logging.getLogger(__name__)

USER_AGENT = "Hourglass/0.1"
KEEP_BYTES = 2048
TRUNCATED_SUFFIX = "...[truncated]"
MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK = 64 * 1024


def standard_headers(headers: dict[str, str], idempotency_key: str, traceparent: str = "") -> dict[str, str]:
    """The caller's headers plus what every request carries; Idempotency-Key and traceparent cannot be
    overridden. `traceparent` is the run's (jobs.engine.tracing); without one the request starts a trace."""
    reserved = {"idempotency-key", "traceparent", signing.HEADER.lower()}
    clean = {name: value for name, value in headers.items() if name.lower() not in reserved}
    if not any(name.lower() == "user-agent" for name in clean):
        clean["User-Agent"] = USER_AGENT
    clean["Idempotency-Key"] = idempotency_key
    clean["traceparent"] = traceparent or tracing.random_traceparent()
    return clean


def guarded_session(policy: TargetPolicy, *, limit: int) -> aiohttp.ClientSession:
    """A session whose every connection passes the SSRF guard (resolver and socket factory); call it on
    the loop that will use it. Each request enforces its own deadline; a shared cookie jar would leak
    cookies between teams."""
    guard = ConnectionGuard(policy)
    connector = aiohttp.TCPConnector(
        limit=limit,
        limit_per_host=0,  # the engine limits per team and host itself (Limits)
        resolver=guard.resolver,
        socket_factory=guard.socket_factory,
        ttl_dns_cache=10,
    )
    return aiohttp.ClientSession(
        connector=connector,
        trace_configs=tracing.session_trace_configs() or None,
        timeout=aiohttp.ClientTimeout(total=None),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


@dataclass
class HttpOutcome:
    http_status: int | None = None
    body: str | None = None  # what is stored: at most KEEP_BYTES, then TRUNCATED_SUFFIX
    match_text: str = ""  # up to MATCH_CAP_BYTES, for the success rule
    failure: str | None = None  # a plans.* failure kind when no usable response came back
    error: str | None = None
    detail: str = ""
    retry_after: str | None = None
    response_bytes: int | None = None  # the body's size: Content-Length when not all of it was read
    latency_ms: int = 0
    final_url: str = ""
    redirects: list[str] = field(default_factory=list)


async def read_bounded(response: aiohttp.ClientResponse, cap: int = MATCH_CAP_BYTES) -> tuple[bytes, bool]:
    """Up to `cap` bytes of the body and whether more followed; never reads the rest."""
    kept = bytearray()
    while True:
        chunk = await response.content.read(_READ_CHUNK)
        if not chunk:
            return bytes(kept), False
        room = cap - len(kept)
        if len(chunk) > room:
            kept += chunk[:room]
            return bytes(kept), True
        kept += chunk


def as_text(raw: bytes) -> str:
    # PostgreSQL text and jsonb cannot hold NUL, and a target may well send it.
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def stored_body(raw: bytes, more: bool) -> str:
    if len(raw) > KEEP_BYTES or more:
        return as_text(raw[:KEEP_BYTES]) + TRUNCATED_SUFFIX
    return as_text(raw)


class RedirectError(Exception):
    """A redirect that is not followed: too many hops, or a target that is not an http(s) URL."""

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(error)
        self.error, self.detail = error, detail or error


def _classify(exc: Exception, outcome: HttpOutcome, timeout_s: float) -> None:
    reason = blocked_reason(exc)
    if isinstance(exc, RedirectError):
        outcome.failure, outcome.error, outcome.detail = plans.STATUS, exc.error, exc.detail
    elif reason is not None:
        outcome.failure, outcome.error, outcome.detail = plans.BLOCKED, reason, reason
    elif isinstance(exc, TimeoutError):
        outcome.failure, outcome.error = plans.TIMEOUT, type(exc).__name__
        outcome.detail = f"no complete response within {round(timeout_s * 1000)} ms"
    elif isinstance(exc, aiohttp.InvalidURL | ValueError):
        outcome.failure, outcome.error, outcome.detail = plans.INVALID, type(exc).__name__, str(exc)
    elif isinstance(exc, aiohttp.ClientError | OSError):
        outcome.failure, outcome.error, outcome.detail = plans.CONNECTION, type(exc).__name__, str(exc)
    else:
        logger.exception("unexpected error during an outbound request")
        outcome.failure, outcome.error, outcome.detail = plans.ERROR, type(exc).__name__, str(exc)


def _next_hop(
    url: URL, location: str, status: int, method: str, body: bytes, headers: dict[str, str], secret: tuple[str, ...]
) -> tuple[URL, str, bytes, dict[str, str]]:
    try:
        target = url.join(URL(location))
    except ValueError as exc:
        raise RedirectError("redirect to an invalid URL", f"redirect to an invalid URL: {exc}") from exc
    if target.scheme not in ("http", "https"):
        error = "redirect to an unsupported scheme"
        raise RedirectError(error, f"{error} ({target.scheme}:)")
    if status == 303 or (status in (301, 302) and method == "POST"):
        # What browsers do: the redirected request becomes a GET without a body.
        method, body = ("HEAD" if method == "HEAD" else "GET"), b""
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
    if target.origin() != url.origin():
        headers = {k: v for k, v in headers.items() if not is_secret_name(k, secret)}
    return target, method, body, headers


async def _exchange(
    session: aiohttp.ClientSession,
    request: OutboundRequest,
    policy: TargetPolicy,
    follow_redirects: bool,
    signing_secrets: Sequence[str],
    outcome: HttpOutcome,
) -> None:
    url, method, body, headers = request.target or URL(request.url), request.method, request.body, request.headers
    if not url.absolute or not url.raw_host:
        raise aiohttp.InvalidURL(url, "not an absolute http(s) URL")
    for hop in range(MAX_REDIRECTS + 1):
        outcome.final_url = str(url)
        policy.check_url(url)  # before any socket: literal IPs never reach a resolver
        signature = signing.signature_header(method, url, body, signing_secrets, int(time.time()))
        hop_headers = {**headers, signing.HEADER: signature}
        async with session.request(
            method, url, headers=hop_headers, data=body or None, allow_redirects=False
        ) as response:
            location = response.headers.get("Location")
            if follow_redirects and response.status in _REDIRECT_STATUSES and location:
                outcome.http_status = response.status  # what the step ends with if this hop is not followed
                if hop == MAX_REDIRECTS:
                    raise RedirectError(f"too many redirects ({MAX_REDIRECTS})")
                next_url, method, body, headers = _next_hop(
                    url, location, response.status, method, body, headers, request.secret_headers
                )
                outcome.redirects.append(str(url))
                url = next_url
                response.close()  # the redirect's own body is of no interest
                continue
            outcome.http_status = response.status
            outcome.retry_after = response.headers.get("Retry-After")
            raw, more = await read_bounded(response)
            outcome.response_bytes = len(raw)
            if more:
                response.close()  # drop the connection rather than drain an endless body
                if response.content_length is not None and response.content_length > len(raw):
                    outcome.response_bytes = response.content_length
            outcome.body = stored_body(raw, more)
            outcome.match_text = as_text(raw)
            return


async def send(
    session: aiohttp.ClientSession,
    request: OutboundRequest,
    *,
    policy: TargetPolicy,
    follow_redirects: bool,
    signing_secrets: Sequence[str],
) -> HttpOutcome:
    """Send `request`; every failure is recorded in the outcome, except cancellation."""
    outcome = HttpOutcome(final_url=request.url)
    started = time.monotonic()
    try:
        # One deadline for connecting, every redirect hop and reading the body.
        async with asyncio.timeout(request.timeout_s):
            await _exchange(session, request, policy, follow_redirects, signing_secrets, outcome)
    except BlockedError as exc:
        outcome.failure, outcome.error, outcome.detail = plans.BLOCKED, exc.reason, exc.reason
    except Exception as exc:  # every failure becomes the step's recorded error
        _classify(exc, outcome, request.timeout_s)
    outcome.latency_ms = round((time.monotonic() - started) * 1000)
    return outcome
