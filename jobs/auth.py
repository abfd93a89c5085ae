"""API keys: `Authorization: Bearer hg_<prefix>_<secret>`, and the throttles keyed on them (and on addresses).

Only sha256(secret) is stored. Keys are 256-bit random tokens, so a slow password hash buys
nothing; the prefix finds the row and hmac.compare_digest compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any, cast

from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings

from config.security import client_address
from jobs import key_cache
from jobs.audit import remember_key
from jobs.models import ApiKey

KEY_PREFIX = "hg"
# last_used_at is informational; writing it on every request would turn reads into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key_material() -> tuple[str, str, str]:
    """(prefix, secret, full key). The prefix is hex so the key splits unambiguously on '_'."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return prefix, secret, f"{KEY_PREFIX}_{prefix}_{secret}"


PREFIX_RE = re.compile(r"^[0-9a-f]{12}$")


def parse_key(raw: str) -> tuple[str, str] | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not PREFIX_RE.match(parts[1]) or not parts[2]:
        return None
    return parts[1], parts[2]


def _load_key(prefix: str) -> ApiKey | None:
    """The key with this prefix, its team, its creator and the creator's role: one query on the unique prefix."""
    role = Subquery(ApiKey.creator_role(OuterRef("team_id"), OuterRef("created_by_id")))
    return (
        ApiKey.objects.select_related("team", "created_by")
        .annotate(**{ApiKey.CREATOR_ROLE: Coalesce(role, Value(""))})
        .filter(prefix=prefix)
        .first()
    )


def apikey_verify(raw: str) -> ApiKey:
    """The live key for a presented token; AuthenticationFailed (401) otherwise."""
    parsed = parse_key(raw)
    if parsed is None:
        raise exceptions.AuthenticationFailed("Malformed API key.")
    prefix, secret = parsed
    version = key_cache.current_version()  # before the query: see jobs.key_cache
    key = key_cache.cached_key(prefix, version)
    if key is None:
        key = _load_key(prefix)
        if key is not None:
            key_cache.remember(prefix, version, key)
    # Compare even when no row matched, so timing does not tell which prefixes exist.
    expected = key.secret_hash if key else hash_secret("")
    if not hmac.compare_digest(expected, hash_secret(secret)) or key is None:
        raise exceptions.AuthenticationFailed("Invalid API key.")
    now = timezone.now()
    if key.revoked_at is not None:
        raise exceptions.AuthenticationFailed("This API key has been revoked.")
    if key.expires_at is not None and key.expires_at <= now:
        raise exceptions.AuthenticationFailed("This API key has expired.")
    if key.created_by is not None and not key.created_by.is_active:
        raise exceptions.AuthenticationFailed("The user who created this API key is inactive.")
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)  # an UPDATE: no signal, the cache stays
        key.last_used_at = now
    return key


class ApiKeyUser:
    """request.user for a key: authenticated, but not a User row.

    Deliberately not the key's creator: code that filters by request.user would otherwise see
    everything the creator sees. Use jobs.access.actor_from_request for visibility.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.username = f"key:{key.prefix}"

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return f"API key {self.key.name} ({self.key.prefix}) in {self.key.team.slug}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None  # not ours: session or anonymous
        token = token.strip()
        if not token or " " in token:
            raise exceptions.AuthenticationFailed("Send the key as `Authorization: Bearer <key>`.")
        key = apikey_verify(token)
        remember_key(request, key)  # the audit log names the key, not its creator
        return ApiKeyUser(key), key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "hg_<prefix>_<secret>"}


class _LiveRateMixin:
    """Read the rate on each request, so settings overrides (and tests) take effect."""

    scope: str

    def get_rate(self) -> str | None:
        return cast("str | None", api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))  # the stub says numbers


class SlidingWindowRateThrottle(throttling.SimpleRateThrottle):
    """DRF's rates ("600/minute"), counted as a sliding-window estimate: the current window's
    count plus the previous window's, weighted by how much of it still overlaps the last
    `duration` seconds. DRF's own throttle stores a timestamp per request and rewrites the whole
    list each time (at 20,000/minute, a 20,000-item list per request); this is two counters in
    the shared cache, whatever the rate.
    """

    num_requests: int  # set by SimpleRateThrottle.__init__ from the rate
    duration: int

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        window, offset = divmod(self.timer(), self.duration)
        current, previous = f"{self.key}:{int(window)}", f"{self.key}:{int(window) - 1}"
        counts = self.cache.get_many([current, previous])
        now_count, before = int(counts.get(current, 0)), int(counts.get(previous, 0))
        if before * (1 - offset / self.duration) + now_count + 1 > self.num_requests:
            self._wait = self._wait_for(now_count, before, offset)
            return False
        self._count(current)
        return True

    def _count(self, key: str) -> None:
        ttl = 2 * self.duration + 1  # it is still the "previous" window during the next one
        for _ in range(2):
            try:
                self.cache.incr(key)
                return
            except ValueError:  # no counter yet (or the cache is unavailable)
                if self.cache.add(key, 1, ttl):
                    return
        self.cache.set(key, 1, ttl)

    def _wait_for(self, now_count: int, before: int, offset: float) -> float:
        """Seconds until one more request fits."""
        limit, duration = self.num_requests, self.duration
        if now_count + 1 > limit:
            # This window is full: wait for it to end, then for its weight to fade enough.
            fade = 1 - (limit - 1) / now_count if now_count else 1
            wait = (duration - offset) + duration * fade
        else:
            # The previous window's share must fade: before * (1 - t/duration) + now_count + 1 <= limit.
            wait = duration * (1 - (limit - 1 - now_count) / before) - offset
        return max(wait, 1.0)

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


class ApiKeyRateThrottle(_LiveRateMixin, SlidingWindowRateThrottle):
    """One bucket per API key."""

    scope = "apikey"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}


class SessionUserRateThrottle(_LiveRateMixin, SlidingWindowRateThrottle):
    """One bucket per logged-in user (keys are throttled on their own)."""

    scope = "user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiKey) or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


def _unauthenticated(request: Request) -> bool:
    return request.auth is None and not request.user.is_authenticated


class AnonymousAddressThrottle(_LiveRateMixin, SlidingWindowRateThrottle):
    """One bucket per client address for requests without valid credentials: no key, a bad, expired or
    revoked key, no session. Requests a view lets through anonymously (the schema, the docs) count here
    as DRF throttles them; the 401s, which authentication and permissions raise before DRF throttles,
    count through `throttle_unauthenticated`."""

    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not _unauthenticated(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


def throttle_unauthenticated(exc: Exception, request: Request | None, view: Any) -> Exception:
    """A 401 counts against the caller's address; past the rate it becomes a 429 with the wait."""
    unauthorized = isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed)
    if not unauthorized or cast(exceptions.APIException, exc).status_code != 401 or request is None:
        return exc
    throttle = AnonymousAddressThrottle()
    if throttle.allow_request(request, view):
        return exc
    return exceptions.Throttled(wait=throttle.wait())
