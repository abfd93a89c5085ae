"""Hardening of the dashboard: a Content-Security-Policy header, and sign-ins throttled against guessing."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseBase

# The dashboard loads its scripts and styles from /static/ only (htmx, app.js, app.css): no inline code.
DEFAULT_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    """Adds Content-Security-Policy to HTML pages outside /api/ (the Swagger page there loads its own assets)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = getattr(settings, "HOURGLASS_CSP", DEFAULT_CSP)
        is_html = response.get("Content-Type", "").startswith("text/html")
        if policy and is_html and not request.path.startswith("/api/") and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


def client_address(request: HttpRequest) -> str:
    """Who to count a request against: REMOTE_ADDR (X-Forwarded-For is the client's to forge), with an
    IPv6 address widened to its /64, the block one subscriber is handed and can cycle through."""
    address = request.META.get("REMOTE_ADDR", "")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def login_username(request: HttpRequest) -> str:
    """The username as Django's sign-in forms authenticate it (UsernameField: stripped, then NFKC), lower-cased:
    every spelling that signs in as one account ("ｂ-viewer", "B-viewer") shares that account's counter."""
    return AbstractBaseUser.normalize_username(request.POST.get("username", "").strip()).lower()


def _hashed(kind: str, ident: str) -> str:
    return f"login-fail-{kind}:" + hashlib.sha256(ident.encode()).hexdigest()


def _counter_keys(request: HttpRequest) -> tuple[str, str]:
    """The cache keys of this username from this address, and of this address whatever the username."""
    address = client_address(request)
    return _hashed("user", f"{login_username(request)}|{address}"), _hashed("address", address)


def _blocked(user_key: str, address_key: str) -> bool:
    counts = cache.get_many([user_key, address_key])
    return (
        int(counts.get(user_key, 0)) >= settings.LOGIN_FAILURE_LIMIT
        or int(counts.get(address_key, 0)) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT
    )


def _blocked_message() -> str:
    return f"Too many failed sign-ins. Try again in {max(1, settings.LOGIN_FAILURE_WINDOW // 60)} minutes."


def _count_failure(key: str) -> None:
    window = settings.LOGIN_FAILURE_WINDOW
    if cache.add(key, 1, window) is False:
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, window)


def _record(user_key: str, address_key: str, response: HttpResponseBase) -> None:
    """A login form that comes back (200) is a failed attempt and counts on both counters; a redirect is a
    success and clears the username's count only: a sprayer who knows one password must not reset the
    address's."""
    if response.status_code == 200:
        _count_failure(user_key)
        _count_failure(address_key)
    elif response.status_code in (301, 302, 303):
        cache.delete(user_key)


_Response = TypeVar("_Response", bound=HttpResponseBase)


def _guarded(request: HttpRequest, respond: Callable[[], _Response], blocked: Callable[[str], _Response]) -> _Response:
    """Answer `blocked(message)` (429, Retry-After) without checking the password once the username from
    this address, or this address across usernames, has failed too often; otherwise answer `respond()`
    and count the outcome."""
    user_key, address_key = _counter_keys(request)
    if _blocked(user_key, address_key):
        response = blocked(_blocked_message())
        response.status_code = 429
        response["Retry-After"] = str(settings.LOGIN_FAILURE_WINDOW)
        return response
    response = respond()
    _record(user_key, address_key, response)
    return response


def throttle_login(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Wrap any sign-in view (the DRF browsable API's, the admin's) in the same counters as the dashboard's
    (per username and address, per address), so no login form offers an attacker fresh attempts."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        return _guarded(
            request,
            lambda: view(request, *args, **kwargs),
            lambda message: HttpResponse(message, content_type="text/plain; charset=utf-8"),
        )

    return wrapped


class ThrottledLoginView(auth_views.LoginView):
    """After LOGIN_FAILURE_LIMIT failures for one username from one address, or LOGIN_ADDRESS_FAILURE_LIMIT
    from one address across usernames, within LOGIN_FAILURE_WINDOW seconds, the login form answers 429
    (with Retry-After and the message on the form) without checking the password."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _guarded(request, lambda: super(ThrottledLoginView, self).post(request, *args, **kwargs), self._blocked)

    def _blocked(self, message: str) -> HttpResponse:
        form = self.get_form()
        form.errors.clear()
        form.add_error(None, message)
        return self.render_to_response(self.get_context_data(form=form))
