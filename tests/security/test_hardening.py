"""Hardening: deploy checks, security headers, CSP on dashboard pages, and the throttled login."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def test_check_deploy_is_clean_with_production_settings():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="hourglass.example",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_turn_on_secure_cookies_and_hsts():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, "
        "s.SECURE_CONTENT_TYPE_NOSNIFF, s.SESSION_COOKIE_HTTPONLY)"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    env.update(DEBUG="false", SECRET_KEY="x" * 60, ALLOWED_HOSTS="h.example", DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["True"] * 5, result.stderr


def test_dashboard_pages_carry_csp_and_nosniff(client, owner, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_SSL_REDIRECT = False
    client.force_login(owner)
    for url in (reverse("jobs:list"), reverse("jobs:team"), reverse("jobs:audit"), reverse("login")):
        response = client.get(url, secure=True)
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Strict-Transport-Security"].startswith("max-age=3600")


def test_dashboard_templates_have_no_inline_code():
    """CSP `default-src 'self'` blocks inline scripts, styles and handlers: the templates must not use them."""
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for marker in ("<style", " style=", " onclick=", " onload=", " onsubmit=", " onchange="):
            if marker in text:
                offenders.append(f"{template.name}: {marker.strip()}")
        for line in text.splitlines():
            if "<script" in line and "src=" not in line:
                offenders.append(f"{template.name}: inline <script>")
    assert not offenders


def test_login_is_throttled_per_username_and_address(client, owner):
    cache.clear()
    owner.set_password("right-password")
    owner.save()
    url = reverse("login")
    for _ in range(5):
        response = client.post(url, {"username": "alice", "password": "wrong"})
        assert response.status_code == 200
    blocked = client.post(url, {"username": "alice", "password": "right-password"})
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert "Too many failed sign-ins" in blocked.content.decode()
    # Another username, or the same one from another address, is not blocked.
    assert client.post(url, {"username": "bob", "password": "wrong"}).status_code == 200
    other = client.post(url, {"username": "alice", "password": "right-password"}, REMOTE_ADDR="198.51.100.7")
    assert other.status_code == 302
    cache.clear()


@pytest.mark.parametrize("url", ["/api-auth/login/", "/admin/login/"])
def test_every_other_sign_in_form_is_throttled_too(client, owner, url):
    cache.clear()
    owner.set_password("right-password")
    owner.is_staff = True
    owner.save()
    for _ in range(5):
        assert client.post(url, {"username": owner.username, "password": "wrong"}).status_code == 200
    blocked = client.post(url, {"username": owner.username, "password": "right-password"})
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    # The right password from another address still signs in.
    other = client.post(url, {"username": owner.username, "password": "right-password"}, REMOTE_ADDR="198.51.100.7")
    assert other.status_code == 302
    assert "_auth_user_id" in client.session
    cache.clear()


def test_failures_on_one_sign_in_form_count_on_the_others(client, owner):
    cache.clear()
    for url in ("/api-auth/login/", "/admin/login/", reverse("login")) * 2:
        client.post(url, {"username": owner.username, "password": "wrong"})
    assert client.post(reverse("login"), {"username": owner.username, "password": "wrong"}).status_code == 429
    cache.clear()


def test_api_throttle_answers_429_with_retry_after(as_key, owner, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "apikey": "2/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = as_key(["job:read"], created_by=owner)
    statuses = [client.get("/api/jobs").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    response = client.get("/api/jobs")
    assert response["Content-Type"].startswith("application/problem+json")
    assert int(response["Retry-After"]) > 0
