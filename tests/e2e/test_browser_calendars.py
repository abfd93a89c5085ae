"""Calendars in real Chromium: a calendar made on the calendars page (a bad one shown again with its errors),
attached on the job form with the picker, whose preview marks the slots it removes; and the preview following
the ID field, which an `H` schedule is hashed from."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from jobs import schedules
from jobs.models import Calendar, Job
from tests.e2e import test_browser_dashboard as dashboard
from tests.e2e.test_browser_dashboard import login, screenshot

pytestmark = pytest.mark.e2e

browser = dashboard.browser
page = dashboard.page


def test_a_calendar_is_created_and_attached_with_the_picker(page: Page, team, editor):
    login(page, "erin", "/team/calendars/")
    page.fill("#id_name", "weekend")
    page.fill("#id_windows", "whenever")
    page.get_by_role("button", name="Create calendar").click()
    expect(page.locator("#id_windows_errors")).to_contain_text("Write a window as")
    assert not Calendar.objects.exists()
    page.fill("#id_windows", "Sat-Sun 00:00-24:00")
    page.get_by_role("button", name="Create calendar").click()
    expect(page.locator('tr[data-calendar="weekend"]')).to_contain_text("Sat,Sun 00:00–24:00")
    screenshot(page, "calendars")

    page.goto("/jobs/new/")
    page.fill("#id_natural_id", "weekday-report")
    page.locator("#id_cron_expression").press_sequentially("0 12 * * *", delay=20)
    page.fill("#id_timezone", "UTC")
    preview = page.locator("#schedule-preview")
    expect(preview.locator("li time")).to_have_count(5)
    expect(preview.locator("li.removed")).to_have_count(0)
    page.locator('[data-calendar="weekend"] select').select_option("exclude:weekend")
    # Five daily slots hold at least one Saturday or Sunday: marked, not dropped.
    expect(preview.locator('li.removed[data-removed-by="calendar:weekend"]').first).to_be_visible()
    expect(preview.locator("li time")).to_have_count(5)
    expect(preview).to_contain_text("skipped: calendar:weekend")
    page.fill("#id_steps-0-url", "https://reports.example.com/")
    screenshot(page, "job-form-calendars")
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("h1")).to_contain_text("weekday-report")
    expect(page.locator("body")).to_contain_text("skipping slots in calendar weekend")
    assert Job.objects.get(natural_id="weekday-report").calendars == [{"calendar": "weekend", "mode": "exclude"}]


def test_the_preview_follows_the_id_an_h_schedule_is_hashed_from(page: Page, team, editor):
    def minute(natural_id: str) -> str:
        return schedules.resolve_hashed("H * * * *", schedules.spread_seed(team.pk, natural_id)).split(" ")[0]

    first, second = "spread-a", next(f"spread-{n}" for n in range(100) if minute(f"spread-{n}") != minute("spread-a"))
    login(page, "erin", "/jobs/new/")
    preview = page.locator("#schedule-preview")
    page.fill("#id_natural_id", first)
    page.locator("#id_cron_expression").press_sequentially("H * * * *", delay=20)
    expect(preview).to_contain_text(f"H spread: {minute(first)} * * * *")
    page.locator("#id_natural_id").fill(second)  # outside the schedule's fieldset
    expect(preview).to_contain_text(f"H spread: {minute(second)} * * * *")
