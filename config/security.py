"""Hardening of the dashboard: a Content-Security-Policy header, and a login throttled against brute force."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

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


def _login_key(request: HttpRequest) -> str:
    username = request.POST.get("username", "")
    ident = f"{username.strip().lower()}|{request.META.get('REMOTE_ADDR', '')}"
    return "login-fail:" + hashlib.sha256(ident.encode()).hexdigest()


def _window() -> int:
    return getattr(settings, "LOGIN_FAILURE_WINDOW", 15 * 60)


def _blocked(key: str) -> bool:
    return cache.get(key, 0) >= getattr(settings, "LOGIN_FAILURE_LIMIT", 5)


def _blocked_message() -> str:
    return f"Too many failed sign-ins. Try again in {max(1, _window() // 60)} minutes."


def _record(key: str, response: HttpResponse) -> None:
    """A login form that comes back (200) is a failed attempt; a redirect is a success and clears the count."""
    if response.status_code == 200:
        if cache.add(key, 1, _window()) is False:
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, _window())
    elif response.status_code in (301, 302, 303):
        cache.delete(key)


def _guarded(
    request: HttpRequest, respond: Callable[[], HttpResponse], blocked: Callable[[str], HttpResponse]
) -> HttpResponse:
    """Answer `blocked(message)` (429, Retry-After) without checking the password once the username
    and address have failed too often; otherwise answer `respond()` and count the outcome."""
    key = _login_key(request)
    if _blocked(key):
        response = blocked(_blocked_message())
        response.status_code = 429
        response["Retry-After"] = str(_window())
        return response
    response = respond()
    _record(key, response)
    return response


def throttle_login(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap any sign-in view (the DRF browsable API's, the admin's) in the same per-username-and-address
    counter as the dashboard's, so no login form offers an attacker fresh attempts."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        return _guarded(
            request,
            lambda: view(request, *args, **kwargs),
            lambda message: HttpResponse(message, content_type="text/plain; charset=utf-8"),
        )

    return wrapped


class ThrottledLoginView(auth_views.LoginView):
    """After LOGIN_FAILURE_LIMIT failures for one username from one address within LOGIN_FAILURE_WINDOW
    seconds, the login form answers 429 (with Retry-After and the message on the form) without
    checking the password."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _guarded(request, lambda: super(ThrottledLoginView, self).post(request, *args, **kwargs), self._blocked)

    def _blocked(self, message: str) -> HttpResponse:
        form = self.get_form()
        form.errors.clear()
        form.add_error(None, message)
        return self.render_to_response(self.get_context_data(form=form))
