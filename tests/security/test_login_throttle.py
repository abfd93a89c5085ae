"""The sign-in throttle counts the username Django authenticates, and each address across usernames."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SIGN_IN_FORMS = ["/accounts/login/", "/api-auth/login/", "/admin/login/"]
ELSEWHERE = "198.51.100.7"


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # many sign-ins, quickly
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def b_viewer():
    user = UserFactory(username="b-viewer", is_staff=True)  # staff, so the admin's form signs in too
    user.set_password("right-password")
    user.save()
    return user


def _sign_in(client, url: str, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize("url", SIGN_IN_FORMS)
@pytest.mark.parametrize("spelling", ["\uff42-viewer", " B-Viewer ", "\uff42\uff0d\uff56iewer"])
def test_another_spelling_of_the_name_gets_no_fresh_attempts(client, b_viewer, url, spelling):
    for _ in range(5):
        assert _sign_in(client, url, "b-viewer", "wrong").status_code == 200

    # NFKC turns U+FF42 (fullwidth b) into "b": Django would sign this spelling in as b-viewer.
    blocked = _sign_in(client, url, spelling, "right-password")

    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) == 15 * 60
    assert "_auth_user_id" not in client.session


def test_failures_under_another_spelling_count_for_the_account(client, b_viewer):
    for _ in range(5):
        _sign_in(client, "/accounts/login/", "\uff42-viewer", "wrong")

    assert _sign_in(client, "/accounts/login/", "b-viewer", "right-password").status_code == 429


@pytest.mark.parametrize("url", SIGN_IN_FORMS)
def test_password_spraying_from_one_address_is_stopped(client, b_viewer, settings, url):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 8
    # One try per name, always below the per-username limit, spread over every form.
    for index in range(8):
        form = SIGN_IN_FORMS[index % len(SIGN_IN_FORMS)]
        assert _sign_in(client, form, f"someone-{index}", "Winter2026!").status_code == 200

    blocked = _sign_in(client, url, "b-viewer", "right-password")

    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert "Too many failed sign-ins" in blocked.content.decode()
    # The account itself is not locked: from another address the right password still signs in.
    assert _sign_in(client, url, "b-viewer", "right-password", ELSEWHERE).status_code == 302


def test_a_success_does_not_reset_the_address_count(client, b_viewer, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 4
    for index in range(3):
        _sign_in(client, "/accounts/login/", f"someone-{index}", "guess")
    assert _sign_in(client, "/accounts/login/", "b-viewer", "right-password").status_code == 302
    client.logout()

    _sign_in(client, "/accounts/login/", "someone-3", "guess")

    assert _sign_in(client, "/accounts/login/", "someone-4", "guess").status_code == 429


def test_an_ipv6_client_is_counted_by_its_64_block(client, b_viewer, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 4
    for host in range(1, 5):  # four addresses of one /64, as one subscriber can cycle through
        _sign_in(client, "/accounts/login/", f"someone-{host}", "guess", f"2001:db8:1:2::{host}")

    assert _sign_in(client, "/accounts/login/", "b-viewer", "right-password", "2001:db8:1:2::99").status_code == 429
    assert _sign_in(client, "/accounts/login/", "b-viewer", "right-password", "2001:db8:1:3::1").status_code == 302
