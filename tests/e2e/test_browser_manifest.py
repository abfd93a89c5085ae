"""Export and Import in real Chromium against a live server: the plan is shown, nothing changes until the editor
confirms, and the exported manifest imports back as no change. Saves the Import page's screenshot for the README."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import AuditEntry, Job
from tests.e2e import test_browser_dashboard as dashboard
from tests.e2e.test_browser_dashboard import login, screenshot
from tests.jobs.manifest.support import MANIFEST

pytestmark = pytest.mark.e2e

browser = dashboard.browser
page = dashboard.page

TEXT = MANIFEST.replace("{secretFrom: env:REPORT_TOKEN}", "Bearer typed-in-token")


def test_an_editor_imports_a_manifest_after_seeing_its_plan_and_exports_it_back(page, team, editor):
    login(page, "erin")
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.locator("h1")).to_have_text("Import jobs")
    page.fill("#id_manifest", TEXT)
    page.get_by_role("button", name="Show the plan").click()
    expect(page.locator(".plan-summary")).to_have_text("3 to create, 0 to update, 0 to delete, 0 unchanged.")
    expect(page.locator(".plan-create").first).to_contain_text("schedule.expression")
    expect(page.locator(".fire-times").first).to_be_visible()
    assert not Job.objects.filter(team=team).exists()  # nothing before the confirmation
    screenshot(page, "manifest-import")

    page.get_by_role("button", name="Apply these changes").click()
    expect(page.locator(".message.success")).to_contain_text("Applied: 3 created, 0 updated, 0 deleted.")
    assert Job.objects.filter(team=team).count() == 3
    assert AuditEntry.objects.filter(action="manifest.apply", actor_label="erin").count() == 1

    with page.expect_download() as info:
        page.get_by_role("link", name="Export", exact=True).click()
    exported = open(info.value.path(), encoding="utf-8").read()
    assert "typed-in-token" not in exported
    assert "secretFrom: stored" in exported

    page.get_by_role("link", name="Import", exact=True).click()
    page.fill("#id_manifest", exported)
    page.get_by_role("button", name="Show the plan").click()
    expect(page.get_by_text("No changes: the team's jobs match the manifest.")).to_be_visible()
    expect(page.get_by_role("button", name="Apply these changes")).to_have_count(0)
