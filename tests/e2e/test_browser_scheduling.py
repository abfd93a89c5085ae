"""Scheduling in real Chromium: an `H` schedule previewed with the minute the job's ID picks, jitter and an active
window typed into the form, and a job that paused itself saying why, resumed with one click."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from history.models import Run
from jobs import schedules
from jobs.engine.autopause import pause_reason
from jobs.models import Job
from tests.e2e import test_browser_dashboard as dashboard
from tests.e2e.test_browser_dashboard import login, screenshot
from tests.factories import JobFactory

pytestmark = pytest.mark.e2e

browser = dashboard.browser
page = dashboard.page


def test_an_h_schedule_shows_its_minute_and_the_window_is_saved(page: Page, team, editor):
    login(page, "erin", "/jobs/new/")
    preview = page.locator("#schedule-preview")
    page.fill("#id_natural_id", "spread-sync")
    page.locator("#id_cron_expression").press_sequentially("H * * * *", delay=20)
    page.fill("#id_timezone", "Europe/Berlin")
    minute = schedules.resolve_hashed("H * * * *", schedules.spread_seed(team.pk, "spread-sync")).split(" ")[0]
    expect(preview).to_contain_text(f"H spread: {minute} * * * *")
    expect(preview.locator("li time")).to_have_count(5)
    page.fill("#id_steps-0-url", "https://sync.example.com/")
    page.locator("summary", has_text="Retries, success rule").click()
    page.fill("#id_jitter_seconds", "90")
    page.fill("#id_start_at", "2030-04-01T03:00")
    page.fill("#id_max_runs", "10")
    page.fill("#id_pause_after_failures", "5")
    screenshot(page, "job-form-scheduling")
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("h1")).to_contain_text("spread-sync")
    job = Job.objects.get(natural_id="spread-sync")
    assert (job.jitter_seconds, job.max_runs, job.pause_after_failures) == (90, 10, 5)
    assert job.start_at.isoformat() == "2030-04-01T01:00:00+00:00"  # 03:00 CEST
    assert job.next_run_at.minute == int(minute)
    expect(page.locator("body")).to_contain_text("up to 90 s per slot")
    expect(page.locator("body")).to_contain_text("at most 10 runs (0 so far)")


def test_a_job_that_paused_itself_says_why_and_resumes(page: Page, team, editor):
    job = JobFactory(team=team, name="Flaky export", enabled=False, paused_reason=pause_reason(5))
    login(page, "erin", f"/jobs/{job.pk}/")
    reason = page.locator("[data-paused-reason]")
    expect(reason).to_have_text("Paused after 5 failures in a row (pauseAfterFailures).")
    screenshot(page, "job-paused-after-failures")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("[data-paused-reason]")).to_have_count(0)
    job.refresh_from_db()
    assert (job.enabled, job.paused_reason) == (True, "")


def test_the_backfill_dialog_shows_the_slot_count_before_confirming(page: Page, team, operator):
    job = JobFactory(team=team, name="Nightly", cron_expression="30 2 * * *", timezone="Europe/Berlin")
    login(page, "oscar", f"/jobs/{job.pk}/")
    page.get_by_role("link", name="Backfill…").click()
    page.fill("#id_start", "2026-03-28T00:00")
    page.fill("#id_end", "2026-03-30T23:00")
    page.fill("#id_rate", "5")
    page.get_by_role("button", name="Count the slots").click()
    expect(page.locator("[data-backfill-count]")).to_contain_text("3 slots in the range: 3 new runs")
    assert not Run.objects.filter(job=job).exists()
    screenshot(page, "job-backfill")
    page.get_by_role("button", name="Create 3 runs").click()
    expect(page.locator("body")).to_contain_text("3 runs created, 0 slots already had a run")
    assert Run.objects.filter(job=job, triggered_by="backfill").count() == 3
