"""The job page: configuration, next fire times, stats, duration chart, and the filtered, paged run table."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from history.models import Run
from tests.dashboard_support import add_step, make_runs


def _url(job) -> str:
    return reverse("jobs:detail", kwargs={"job_id": job.pk})


def _row_ids(body: str) -> list[str]:
    return re.findall(r'<tr id="run-([0-9a-f-]{36})"', body)


def test_it_shows_the_configuration_schedule_and_stats(as_user, viewer, job):
    make_runs(job, 19, duration_ms=100, lateness_ms=10)
    make_runs(job, 1, end_reason="failed", duration_ms=900, lateness_ms=50)
    body = as_user(viewer).get(_url(job)).content.decode()
    fire_times = re.search(r'<ol class="fire-times">(.*?)</ol>', body, re.S).group(1)
    assert fire_times.count("<time") == 5
    assert "GET http://127.0.0.1:9/report" in body
    assert "95.0%" in body  # success rate
    assert "100 ms" in body  # p50 duration
    assert "900 ms" in body  # p95 duration
    chart = re.search(r'<svg class="chart".*?</svg>', body, re.S).group(0)
    assert chart.count("<rect") == 20
    assert len(_row_ids(body)) == 20


def test_it_shows_no_fire_times_for_a_paused_job(as_user, viewer, job):
    job.enabled = False
    job.save()
    body = as_user(viewer).get(_url(job)).content.decode()
    assert "Paused: no runs are scheduled." in body


@pytest.mark.parametrize(
    ("params", "matching"),
    [
        ({"status": "running"}, "running"),
        ({"end_reason": "failed"}, "failed"),
        ({"trigger": "dashboard"}, "manual"),
        ({"http": "5xx"}, "failed"),
        ({"q": "refused"}, "failed"),
        ({"date_from": "2020-01-01", "date_to": "2020-01-01"}, "old"),
    ],
)
def test_it_filters_the_run_table(as_user, viewer, job, params, matching):
    runs = {
        "ok": make_runs(job, 1, http_status=200)[0],
        "failed": make_runs(job, 1, end_reason="failed", http_status=503, error="connection refused")[0],
        "running": make_runs(job, 1, status="running", end_reason="")[0],
        "manual": make_runs(job, 1, triggered_by="dashboard", http_status=200)[0],
        "old": make_runs(job, 1, start=timezone.now().replace(year=2020, month=1, day=1, hour=12))[0],
    }
    body = as_user(viewer).get(_url(job), params).content.decode()
    assert _row_ids(body) == [str(runs[matching].pk)]


def test_it_sorts_by_duration(as_user, viewer, job):
    short, long, middle = make_runs(job, 3)
    for run, ms in ((short, 5), (long, 500), (middle, 50)):
        Run.objects.filter(pk=run.pk).update(duration_ms=ms)
    client = as_user(viewer)
    assert _row_ids(client.get(_url(job), {"sort": "-duration_ms"}).content.decode()) == [
        str(long.pk),
        str(middle.pk),
        str(short.pk),
    ]
    assert _row_ids(client.get(_url(job), {"sort": "duration_ms"}).content.decode())[0] == str(short.pk)


def test_it_pages_and_keeps_the_filters_in_the_url(as_user, viewer, job):
    failed = make_runs(job, 30, end_reason="failed")
    make_runs(job, 5)
    client = as_user(viewer)
    body = client.get(_url(job), {"end_reason": "failed"}).content.decode()
    assert len(_row_ids(body)) == 25
    assert "?end_reason=failed&amp;page=2" in body
    second = client.get(_url(job), {"end_reason": "failed", "page": 2}).content.decode()
    assert _row_ids(second) == [str(run.pk) for run in reversed(failed[:5])]
    assert 'id="runs-poller"' not in second  # only the first newest-first page takes new rows


def test_it_reports_invalid_filters_instead_of_failing(as_user, viewer, job):
    make_runs(job, 2)
    response = as_user(viewer).get(_url(job), {"status": "bogus"})
    assert response.status_code == 200
    assert "Some filters are not valid" in response.content.decode()
    assert _row_ids(response.content.decode()) == []


@pytest.mark.parametrize(
    ("persona", "shown", "hidden"),
    [
        ("viewer", [], ["Run now", "Pause", "Edit", "Delete…", 'name="run"']),
        ("operator", ["Run now"], ["Pause", "Edit", "Delete…", 'name="run"']),
        ("editor", ["Run now", "Pause", "Edit", "Delete…", 'name="run"', "Delete selected"], []),
    ],
)
def test_it_shows_only_the_actions_the_role_allows(request, as_user, job, ended_run, persona, shown, hidden):
    body = as_user(request.getfixturevalue(persona)).get(_url(job)).content.decode()
    for text in shown:
        assert text in body
    for text in hidden:
        assert text not in body


def test_it_polls_active_rows_and_leaves_ended_ones_alone(as_user, viewer, job, ended_run, running_run):
    body = as_user(viewer).get(_url(job)).content.decode()
    running_row = re.search(rf'<tr id="run-{running_run.pk}"[^>]*>', body).group(0)
    ended_row = re.search(rf'<tr id="run-{ended_run.pk}"[^>]*>', body).group(0)
    assert 'hx-trigger="every 2s"' in running_row
    assert "hx-get" not in ended_row
    assert '<progress value="1" max="2"' in body
    assert 'id="runs-poller"' in body


@pytest.mark.parametrize("runs", [2, 60])
def test_it_needs_the_same_queries_for_a_short_or_long_history(
    as_user, viewer, job, runs, django_assert_max_num_queries
):
    for run in make_runs(job, runs, duration_ms=10, lateness_ms=1):
        add_step(run)
    client = as_user(viewer)
    # session, user, memberships, job, teams, run_stats (the rollups, the window's runs, the last times),
    # recent runs, steps, calendars, run page + its steps, count, the alert rules that cover it, its latest
    # incidents, the jobs it follows (its schedule in words), the anomaly baseline
    with django_assert_max_num_queries(18):
        response = client.get(_url(job) + "?" + f"date_from={(timezone.now() - timedelta(days=1)).date()}")
    assert len(_row_ids(response.content.decode())) == min(runs, 25)
