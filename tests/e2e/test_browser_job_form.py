"""The job form in real Chromium: several bad fields at once are all marked after one submit."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import Job
from tests.e2e.test_browser_dashboard import browser, login, page, screenshot  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e


def test_one_submit_marks_every_bad_field(page, team, editor):  # noqa: F811 - the page fixture
    login(page, "erin", "/jobs/new/")
    page.fill("#id_natural_id", "has space")
    page.fill("#id_cron_expression", "61 * * * *")
    page.fill("#id_timezone", "Mars/Olympus")
    page.fill("#id_steps-0-url", "ftp://files.example.com/export")
    page.locator("summary", has_text="Retries, success rule and retention").click()
    page.fill("#id_success_statuses", "abc")
    page.get_by_role("button", name="Create job").click()
    page.wait_for_load_state("networkidle")

    for field in ("natural_id", "cron_expression", "timezone", "success_statuses", "steps-0-url"):
        expect(page.locator(f"#id_{field}_errors")).to_be_visible()
    expect(page.locator("#id_natural_id_errors")).to_contain_text("letters, digits")
    expect(page.locator("#id_cron_expression_errors")).to_contain_text("61 * * * *")
    expect(page.locator("#id_timezone_errors")).to_contain_text("Unknown timezone")
    expect(page.locator("#id_steps-0-url_errors")).to_contain_text("http:// or https://")
    expect(page.locator("#id_success_statuses_errors")).to_be_visible()
    expect(page.locator(".field.invalid")).to_have_count(5)
    expect(page.get_by_text("Please submit")).to_have_count(0)
    screenshot(page, "job-form-errors")
    assert not Job.objects.exists()
