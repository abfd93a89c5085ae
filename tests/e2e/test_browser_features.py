"""The run feed, its export and "delete all matching", member management, the test request and the
signing secret's rotation, in real Chromium against a live server. Each saves its screenshot for the README."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import Page, expect

from history.models import Run
from jobs.crypto import decrypt_value
from jobs.models import Membership, Team
from tests.api_support import make_runs
from tests.e2e import test_browser_dashboard as dashboard
from tests.e2e.test_browser_dashboard import history, login, running_run, screenshot
from tests.factories import JobFactory, UserFactory

pytestmark = pytest.mark.e2e

# The dashboard tests' Chromium and live-server page fixtures.
browser = dashboard.browser
page = dashboard.page


def _download(page: Page, link_text: str) -> str:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_text, exact=True).click()
    return open(info.value.path(), encoding="utf-8").read()


def test_the_run_feed_filters_exports_and_deletes_every_match(page, team, editor):
    main = history(team)
    failing = JobFactory(team=team, natural_id="sync-crm", name="CRM sync", url="https://crm.example.com/sync")
    start = timezone.now() - timedelta(hours=3, minutes=-2)  # between the other jobs' runs
    make_runs(
        failing, 30, start=start, step=timedelta(minutes=6), end_reason="failed", http_status=502, duration_ms=310
    )
    Run.objects.filter(job=failing).update(started_at=F("scheduled_for"))  # each sent on its slot
    active = running_run(main)
    failed = set(Run.objects.filter(team=team, end_reason="failed").values_list("pk", flat=True))
    assert len(failed) > 25  # more than one page
    login(page, "erin")
    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page.locator("h1")).to_have_text("Runs")
    expect(page.locator("#runs").get_by_role("link", name="CRM sync").first).to_be_visible()

    page.select_option("#id_end_reason", "failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".table-actions")).to_contain_text(f"The filter matches {len(failed)} runs, on every page.")
    expect(page.locator("#runs tr[id^=run-]")).to_have_count(25)
    screenshot(page, "runs-feed")

    rows = list(csv.DictReader(io.StringIO(_download(page, "CSV"))))
    assert {row["id"] for row in rows} == {str(pk) for pk in failed}
    items = [json.loads(line) for line in _download(page, "NDJSON").splitlines()]
    assert len(items) == len(failed)
    assert {item["endReason"] for item in items} == {"failed"}

    page.get_by_role("link", name="Delete all matching this filter…").click()
    expect(page.locator("h1")).to_have_text(f"Delete {len(failed)} runs of Acme's jobs?")
    expect(page.locator("[data-filters]")).to_contain_text("End reason: failed")
    assert Run.objects.filter(pk__in=failed).count() == len(failed)  # nothing goes before the confirmation
    screenshot(page, "delete-matching")
    page.get_by_role("button", name=f"Delete {len(failed)} runs").click()
    expect(page.locator(".message.success")).to_contain_text(f"Deleted {len(failed)} runs matching the filter.")
    expect(page.locator("#runs-empty")).to_contain_text("No runs match these filters.")
    assert not Run.objects.filter(pk__in=failed).exists()
    assert Run.objects.filter(pk=active.pk).exists()
    assert Run.objects.filter(team=team, end_reason="success").count() > 0


def test_an_admin_adds_invites_changes_and_removes_members(page, team, owner, viewer):
    UserFactory(username="dana", email="dana@example.com")
    login(page, "alice", "/team/")
    add = page.locator("#member-add")

    add.get_by_label("Username or email").fill("dana")
    add.get_by_label("Role").select_option("editor")
    add.get_by_role("button", name="Add member").click()
    expect(page.locator(".message.success")).to_contain_text("Added dana as Editor.")

    add.get_by_label("Username or email").fill("new.hire@example.com")
    add.get_by_role("button", name="Add member").click()
    expect(page.locator(".message.success")).to_contain_text("Invited new.hire@example.com as Viewer")
    assert [message.to for message in mail.outbox] == [["new.hire@example.com"]]
    assert not get_user_model().objects.get(username="new.hire@example.com").has_usable_password()

    bob = page.locator("tr[data-member=bob]")
    bob.get_by_label("Role of bob").select_option("operator")
    bob.get_by_role("button", name="Change").click()
    expect(page.locator(".message.success")).to_contain_text("bob is now Operator.")
    assert Membership.objects.get(team=team, user=viewer).role == "operator"

    page.locator("tr[data-member=dana]").get_by_role("link", name="Remove…").click()
    expect(page.locator("h1")).to_have_text("Remove dana from Acme?")
    page.get_by_role("button", name="Remove dana").click()
    expect(page.locator(".message.success")).to_contain_text("Removed dana from Acme.")
    expect(page.locator("tr[data-member=dana]")).to_have_count(0)

    alice = page.locator("tr[data-member=alice]")
    alice.get_by_label("Role of alice").select_option("viewer")
    alice.get_by_role("button", name="Change").click()
    expect(page.locator(".message.error")).to_contain_text("alice is the team's last admin and cannot be demoted")
    assert Membership.objects.get(team=team, user=owner).role == "admin"
    screenshot(page, "members")

    # The invitation's link sets a password; then the new member logs in and sees the team's jobs.
    link = re.search(r"https?://\S+/accounts/reset/\S+", mail.outbox[0].body).group(0)
    page.context.clear_cookies()
    page.goto(link)
    page.fill("#id_new_password1", "a-long-pass-9271")
    page.fill("#id_new_password2", "a-long-pass-9271")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("h1")).to_have_text("Your password is set")
    page.goto("/accounts/login/")
    page.fill("#id_username", "new.hire@example.com")
    page.fill("#id_password", "a-long-pass-9271")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Jobs")


def test_the_job_form_sends_a_test_request(page, team, editor, target):
    login(page, "erin", "/jobs/new/")
    page.fill("#id_natural_id", "orders-sync")
    page.fill("#id_steps-0-url", target.url("/ok?job={{job.natural_id}}"))
    page.get_by_role("button", name="Send a test request").click()
    result = page.locator("[data-test-result]")
    expect(result.locator("[data-test-status]")).to_have_text("200")
    expect(result.locator("[data-test-latency]")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(result.locator("[data-test-body]")).to_have_text('{"ok": true}')
    [received] = target.received("/ok")
    assert received.query == {"job": "orders-sync"}
    screenshot(page, "test-request")

    page.fill("#id_steps-0-url", "http://169.254.169.254/latest/meta-data/")
    page.get_by_role("button", name="Send a test request").click()
    expect(result.locator("[data-test-error]")).to_contain_text("Blocked: 169.254.169.254, a link-local address")
    assert len(target.received()) == 1
    assert not Run.objects.exists()
    assert page.locator("h1").inner_text() == "New job in Acme"  # nothing was submitted


def test_an_admin_rotates_the_signing_secret(page, team, owner):
    old = decrypt_value(team.signing_secret)
    login(page, "alice", "/team/")
    page.get_by_role("link", name="Signing secret").click()
    expect(page.locator("h1")).to_have_text("Signing secret")
    expect(page.locator("main")).not_to_contain_text(old)
    page.get_by_role("button", name="Show the secret").click()
    expect(page.locator("[data-signing-secret]")).to_have_text(old)

    page.get_by_label("The old secret keeps signing for").select_option(label="24 hours (recommended)")
    page.get_by_role("button", name="Rotate the secret…").click()
    expect(page.locator("h1")).to_have_text("Rotate the signing secret of Acme?")
    page.get_by_role("button", name="Rotate now").click()
    expect(page.locator(".message.success")).to_contain_text("The old one also signs for 24 hours")

    page.get_by_role("button", name="Show the secret").click()
    new = decrypt_value(Team.objects.get(pk=team.pk).signing_secret)
    assert new != old
    expect(page.locator("[data-signing-secret]")).to_have_text(new)
    expect(page.locator("[data-previous-secret]")).to_have_text(old)
    screenshot(page, "signing-secret")
