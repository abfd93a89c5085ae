"""Times swapped in by htmx are shown in the browser's zone like the rest of the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser_dashboard import browser, login, page  # noqa: F401 - fixtures
from tests.factories import JobFactory

pytestmark = pytest.mark.e2e


def test_the_run_now_notice_gives_the_time_in_the_browsers_zone(page, team, operator):  # noqa: F811
    job = JobFactory(team=team, natural_id="ping", name="Ping", enabled=False)
    login(page, "oscar", f"/jobs/{job.pk}/")
    page.get_by_role("button", name="Run now").click()
    notice = page.locator("#run-now-status time")
    expect(notice).to_have_attribute("title", re.compile(r"UTC · shown in Europe/Berlin"))
    expect(notice).not_to_contain_text("UTC")
