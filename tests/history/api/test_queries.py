"""Query counts stay constant in the page size, and a job's history is read through its index."""

from __future__ import annotations

import pytest
from django.db import connection

from history.selectors import Ordering, run_list, with_details
from jobs.access import actor_for_user
from tests.api_support import add_step, insert_ended_runs, make_runs
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_job(job, editor):
    runs = make_runs(job, 60, triggered_by_user=editor)
    for run in runs:
        add_step(run, "main")
        add_step(run, "notify", position=1, kind="email")
    return job


@pytest.mark.parametrize("limit", [1, 60])
def test_history_list_queries_do_not_grow_with_the_page(
    as_user, viewer, busy_job, limit, django_assert_max_num_queries
):
    client = as_user(viewer)
    # session + user + memberships + job + page + steps + count = 7
    with django_assert_max_num_queries(7):
        body = client.get(f"/api/jobs/{busy_job.pk}/history?limit={limit}").json()
    assert body["count"] == limit
    assert len(body["_embedded"]["inf:job-history"][0]["progress"]) == 2


@pytest.mark.parametrize("limit", [1, 60])
def test_key_history_queries_do_not_grow(as_key, busy_job, limit, django_assert_max_num_queries):
    client = as_key(["job:read"])
    with django_assert_max_num_queries(6):
        assert client.get(f"/api/history?limit={limit}").json()["count"] == limit


@pytest.mark.parametrize("count", [1, 25])
def test_job_list_queries_do_not_grow(as_user, viewer, team, count, django_assert_max_num_queries):
    for index in range(count):
        JobFactory(team=team, natural_id=f"job-{index}")
    client = as_user(viewer)
    # session + user + memberships + page + steps + calendars + triggers (their `after`) + count = 8
    with django_assert_max_num_queries(8):
        assert client.get("/api/jobs?limit=100").json()["count"] == count


def test_a_deep_cursor_page_costs_what_the_first_does(as_user, viewer, busy_job, django_assert_max_num_queries):
    client = as_user(viewer)
    href = f"/api/jobs/{busy_job.pk}/history?limit=5"
    for _ in range(10):
        with django_assert_max_num_queries(7):
            href = client.get(href).json()["_links"]["next"]["href"]
    assert "cursor=" in href


def test_a_jobs_history_uses_the_job_index(viewer, team, busy_job):
    insert_ended_runs(JobFactory(team=team), 3000)
    insert_ended_runs(busy_job, 3000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    runs = run_list(actor=actor_for_user(viewer), job=busy_job, filters={"status": "ended"})
    plan = with_details(runs.order_by(*Ordering("created_at").order_by()), steps=False)[:30].explain()
    assert "run_job_created_idx" in plan, plan
    assert "Seq Scan on history_run" not in plan
    assert "SCAN history_run\n" not in plan + "\n"
