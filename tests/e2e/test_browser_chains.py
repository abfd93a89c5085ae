"""A job chain in real Chromium: a job with no clock picked to run after another job succeeds, previewed as triggered
by that job, saved, and the run pages linking the upstream run to the run it started and back."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from history.models import Run
from jobs.engine.chains import Ended, start_followers
from jobs.models import Job
from tests.e2e import test_browser_dashboard as dashboard
from tests.e2e.test_browser_dashboard import login, screenshot
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.e2e

browser = dashboard.browser
page = dashboard.page


def test_a_chain_is_created_in_the_form_and_its_runs_link_each_other(page: Page, team, editor):
    upstream = JobFactory(team=team, natural_id="import", name="Import")
    login(page, "erin", "/jobs/new/")
    page.fill("#id_natural_id", "report")
    page.get_by_label("Only when triggered").check()
    page.locator("#id_after_0_job").select_option("import")
    page.locator("#id_after_0_on").select_option("success")
    preview = page.locator("#schedule-preview")
    expect(preview).to_contain_text("runs after import succeeds")
    expect(preview).to_contain_text("No clock: it runs only when the jobs it follows end so")
    page.fill("#id_steps-0-url", "https://report.example.com/")
    screenshot(page, "job-form-chain")
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("h1")).to_contain_text("report")
    expect(page.locator("body")).to_contain_text("After import succeeds")
    report = Job.objects.get(natural_id="report")
    assert report.after == [{"job": "import", "on": "success"}]

    done = RunFactory(job=upstream, finished_at=timezone.now())
    [started] = start_followers([Ended(done.pk, upstream.pk, "success", done.finished_at)], timezone.now())
    page.goto(f"/runs/{done.pk}/")
    chain = page.locator("[data-chain]")
    expect(chain).to_contain_text("Its outcome started:")
    chain.locator("[data-started]").click()
    expect(page).to_have_url(re.compile(f"/runs/{started.pk}/$"))
    expect(page.locator("[data-started-by]")).to_have_text("a run of import")
    screenshot(page, "run-started-by-chain")
    assert Run.objects.get(pk=started.pk).triggered_by == Run.Trigger.CHAIN
