"""The dashboard in real Chromium against a live server: roles, live rows, deletes, the cron preview, the admin.

Each main page is saved to docs/screenshots/ on the way, for the README.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from history.models import Run, RunStep
from jobs.models import Job, Team
from tests.api_support import add_step, make_runs
from tests.e2e.conftest import wait_until
from tests.factories import JobFactory

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "password"  # tests.factories.UserFactory's


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop on this thread; the ORM calls the tests make
    # between page actions are still plain synchronous code.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def page(browser: Browser, live_server: Any) -> Iterator[Page]:
    # base_url: page.goto("/jobs/") and page.request.get("/api/...") go to the live server.
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 860}, timezone_id="Europe/Berlin"
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def login(page: Page, username: str, path: str = "/") -> None:
    page.goto(f"/accounts/login/?next={path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def open_page(page: Page, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def history(team: Team) -> Job:
    """A few jobs with a believable history; returns the one the tests look at."""
    start = timezone.now() - timedelta(hours=3)
    main = JobFactory(
        team=team,
        natural_id="nightly-report",
        name="Nightly report",
        cron_expression="*/5 * * * *",
        next_run_at=timezone.now() + timedelta(minutes=3),
        url="https://reports.example.com/build",
    )
    for index, run in enumerate(make_runs(main, 36, start=start, step=timedelta(minutes=5), http_status=200)):
        failed = index % 9 == 4
        duration_ms = 180 + (index * 37) % 260 + (900 if failed else 0)
        started_at = run.scheduled_for + timedelta(milliseconds=20 + (index * 13) % 90)
        Run.objects.filter(pk=run.pk).update(
            duration_ms=duration_ms,
            lateness_ms=(started_at - run.scheduled_for) // timedelta(milliseconds=1),
            started_at=started_at,
            finished_at=started_at + timedelta(milliseconds=duration_ms),
            end_reason="failed" if failed else "success",
            http_status=503 if failed else 200,
            exit_code=1 if failed else 0,
            error="HTTP 503" if failed else None,
            response_body='{"error": "upstream busy"}' if failed else '{"rows": 1842, "file": "report.csv"}',
            variables={"region": "eu-west"},
            request={
                "method": "POST",
                "url": "https://reports.example.com/build",
                "headers": {"Authorization": "[redacted]", "Idempotency-Key": str(run.pk)},
                "body": '{"format": "csv"}',
                "timeout_ms": 30000,
            },
        )
        add_step(
            run,
            "build",
            RunStep.Status.ERROR if failed else RunStep.Status.DONE,
            position=0,
            http_status=503 if failed else 200,
            duration_ms=duration_ms - 40,
            started_at=started_at,
            finished_at=started_at + timedelta(milliseconds=duration_ms - 40),
            message=f"POST https://reports.example.com/build returned {503 if failed else 200}",
        )
        add_step(
            run,
            "notify",
            RunStep.Status.SKIPPED if failed else RunStep.Status.DONE,
            position=1,
            message="skipped: build failed" if failed else "POST https://hooks.example.com/ returned 204",
        )
    for natural_id, name, kind, fields, outcome in (
        ("heartbeat", "Heartbeat", "interval", {"interval_seconds": 60}, "success"),
        (
            "invoice-export",
            "Invoice export",
            "cron",
            {"cron_expression": "0 2 * * *", "timezone": "Europe/Berlin"},
            "failed",
        ),
        ("cache-warmup", "Cache warm-up", "cron", {"cron_expression": "30 * * * *", "enabled": False}, "success"),
    ):
        job = JobFactory(team=team, natural_id=natural_id, name=name, schedule_kind=kind, **fields)
        Job.objects.filter(pk=job.pk, enabled=True).update(next_run_at=timezone.now() + timedelta(minutes=7))
        runs = make_runs(job, 20, start=start, step=timedelta(minutes=9), duration_ms=120, http_status=200)
        Run.objects.filter(pk__in=[r.pk for r in runs]).update(started_at=F("scheduled_for"))  # sent on their slot
        Run.objects.filter(pk__in=[r.pk for r in runs[-3:]]).update(end_reason=outcome)
    return main


def running_run(job: Job) -> Run:
    run = make_runs(job, 1, status="running", end_reason="", started_at=timezone.now())[0]
    add_step(run, "fetch", RunStep.Status.DONE, position=0, http_status=200, duration_ms=210)
    add_step(run, "notify", RunStep.Status.RUNNING, position=1)
    return run


def test_a_viewer_reads_jobs_and_live_progress_but_cannot_delete(page, team, viewer):
    job = history(team)
    run = running_run(job)
    login(page, "bob")
    expect(page.locator("h1")).to_have_text("Jobs")
    expect(page.locator("a.name", has_text="Nightly report")).to_be_visible()
    expect(page.locator("svg.spark").first).to_be_visible()
    # Times are shown in the browser's zone (Berlin here), with UTC in the tooltip.
    first_time = page.locator("td time").first
    expect(first_time).not_to_contain_text("UTC")
    expect(first_time).to_have_attribute("title", re.compile(r"UTC"))
    screenshot(page, "jobs-list")
    # The viewer can pick another zone; every time on the page follows.
    utc_clock = re.search(r"(\d\d:\d\d:\d\d) UTC", first_time.get_attribute("title")).group(1)
    page.select_option("#tz-select", "UTC")
    expect(first_time).to_contain_text(utc_clock)

    page.click("a.name:has-text('Nightly report')")
    expect(page.locator(".fire-times li")).to_have_count(5)
    expect(page.locator(f"#run-{run.pk} progress")).to_be_visible()
    assert page.locator("input[name=run]").count() == 0
    expect(page.get_by_role("button", name="Run now")).to_have_count(0)
    screenshot(page, "job-detail")

    page.click(f"#run-{run.pk} a")
    expect(page.locator("#run-live progress")).to_have_attribute("value", "1")
    expect(page.locator("#run-live")).to_contain_text("1/2 steps")
    expect(page.get_by_role("link", name="Delete…")).to_have_count(0)
    screenshot(page, "run-detail-running")

    # The worker finishes the run: the page follows without a reload, then stops polling.
    RunStep.objects.filter(run=run).update(status=RunStep.Status.DONE)
    Run.objects.filter(pk=run.pk).update(status="ended", end_reason="success", http_status=200, duration_ms=640)
    expect(page.locator("#run-live .badge.success")).to_be_visible(timeout=6000)
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", re.compile("."))


def test_an_editor_deletes_runs_through_the_confirmation(page, team, editor):
    job = history(team)
    newest, older, oldest = Run.objects.filter(job=job).order_by("-created_at")[:3]
    login(page, "erin")

    open_page(page, f"/runs/{newest.pk}/")
    screenshot(page, "run-detail")
    page.get_by_role("link", name="Delete…").click()
    expect(page.locator("h1")).to_have_text("Delete this run?")
    assert Run.objects.filter(pk=newest.pk).exists()  # nothing happens before the confirmation
    page.get_by_role("button", name="Delete the run").click()
    expect(page.locator(".message.success")).to_contain_text("Deleted the run")
    expect(page.locator(f"#run-{newest.pk}")).to_have_count(0)
    assert not Run.objects.filter(pk=newest.pk).exists()
    api = page.request.get(f"/api/jobs/{job.pk}/history/{newest.pk}")
    assert api.status == 404

    # Bulk: tick two rows, confirm, and they are gone.
    page.check(f"#run-{older.pk} input[name=run]")
    page.check(f"#run-{oldest.pk} input[name=run]")
    page.get_by_role("button", name="Delete selected…").click()
    expect(page.locator("h1")).to_have_text("Delete 2 runs of Nightly report?")
    page.get_by_role("button", name="Delete 2 runs").click()
    expect(page.locator(".message.success")).to_contain_text("Deleted 2 runs")
    expect(page.locator(f"#run-{older.pk}")).to_have_count(0)
    assert not Run.objects.filter(pk__in=[older.pk, oldest.pk]).exists()


def test_run_now_adds_a_row_that_turns_to_success_without_a_reload(page, team, operator, worker, target):
    job = JobFactory(team=team, natural_id="ping", name="Ping", enabled=False, url=target.url("/delay/800"))
    login(page, "oscar", f"/jobs/{job.pk}/")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#runs-empty")).to_be_visible()

    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#run-now-status")).to_contain_text("Started a run")
    row = page.locator("#runs tr[id^=run-]").first
    expect(row).to_be_visible(timeout=5000)
    expect(page.locator("#runs-empty")).to_have_count(0)
    expect(row.locator(".badge.success")).to_be_visible(timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True  # no navigation happened
    run = wait_until(lambda: Run.objects.filter(job=job).first(), 5, "the run row")
    assert (run.triggered_by, run.end_reason, run.http_status) == ("dashboard", "success", 200)
    assert len(target.received("/delay/800")) == 1


def test_the_cron_preview_follows_typing(page, team, editor):
    login(page, "erin", "/jobs/new/")
    preview = page.locator("#schedule-preview")
    expect(preview).to_contain_text("Fill in the schedule")
    page.fill("#id_natural_id", "invoice-export")
    page.fill("#id_name", "Invoice export")
    page.locator("#id_cron_expression").press_sequentially("0 2 * * 1-5", delay=20)
    page.fill("#id_timezone", "Europe/Berlin")
    expect(preview).to_contain_text("At 02:00, Monday through Friday (Europe/Berlin)")
    expect(preview.locator("li time")).to_have_count(5)
    page.fill("#id_steps-0-url", "https://billing.example.com/export")
    screenshot(page, "job-form")

    page.locator("#id_cron_expression").press("End")
    page.locator("#id_cron_expression").press_sequentially(" *", delay=20)
    expect(preview).to_contain_text("must have 5 fields")
    page.get_by_label("Interval").check()
    page.fill("#id_interval_seconds", "900")
    expect(preview).to_contain_text("Every 15 minutes")

    # More than one request: a second step, which waits for the first.
    page.get_by_role("button", name="+ Add a step").click()
    expect(page.locator("#id_steps-1-name")).to_be_focused()
    page.fill("#id_steps-0-name", "export")
    page.fill("#id_steps-1-name", "notify")
    page.fill("#id_steps-1-url", "https://hooks.example.com/done")
    page.fill("#id_steps-1-depends_on", "export")
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("h1")).to_contain_text("Invoice export")
    job = Job.objects.get(natural_id="invoice-export")
    assert job.interval_seconds == 900
    assert [(step.name, step.depends_on) for step in job.steps.all()] == [("export", []), ("notify", ["export"])]


def test_an_admin_creates_a_key_on_the_team_page(page, team, owner, editor, operator, viewer):
    login(page, "alice", "/team/")
    page.fill("#id_name", "CI pipeline")
    page.get_by_label(re.compile("^job:run")).check()
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("[data-new-key]")
    expect(secret).to_contain_text("hg_")
    screenshot(page, "team")
    page.reload()
    expect(page.locator("[data-new-key]")).to_have_count(0)  # shown once


def test_the_admin_refuses_the_delete_to_a_staff_viewer(page, team, viewer):
    job = history(team)
    run = Run.objects.filter(job=job).first()
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    page.goto("/admin/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    open_page(page, f"/admin/history/run/{run.pk}/change/")
    expect(page.locator("body")).to_contain_text(str(run.pk))
    expect(page.locator("a.deletelink")).to_have_count(0)
    response = page.goto(f"/admin/history/run/{run.pk}/delete/")
    assert response is not None
    assert response.status == 403
    assert Run.objects.filter(pk=run.pk).exists()
