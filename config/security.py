"""Hardening of the dashboard: a Content-Security-Policy header, and a login throttled against brute force."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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


def _login_key(request: HttpRequest, username: str) -> str:
    ident = f"{username.strip().lower()}|{request.META.get('REMOTE_ADDR', '')}"
    return "login-fail:" + hashlib.sha256(ident.encode()).hexdigest()


class ThrottledLoginView(auth_views.LoginView):
    """After LOGIN_FAILURE_LIMIT failures for one username from one address within LOGIN_FAILURE_WINDOW
    seconds, the login form answers 429 (with Retry-After) without checking the password."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = _login_key(request, request.POST.get("username", ""))
        limit = getattr(settings, "LOGIN_FAILURE_LIMIT", 5)
        window = getattr(settings, "LOGIN_FAILURE_WINDOW", 15 * 60)
        if cache.get(key, 0) >= limit:
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, "Too many failed sign-ins. Try again in 15 minutes.")
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(window)
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form came back with an error: a failed attempt
            if cache.add(key, 1, window) is False:
                try:
                    cache.incr(key)
                except ValueError:
                    cache.set(key, 1, window)
        else:
            cache.delete(key)
        return response
