"""Paging: start/limit/total, sorting, and keyset cursors that neither skip nor repeat while runs arrive."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from history.models import Run
from history.selectors import COUNT_CAP, FILTERED_COUNT_CAP, SEARCH_WALK_ROWS
from tests.api_support import insert_ended_runs, make_runs

pytestmark = pytest.mark.django_db


def _ids(body: dict) -> list[str]:
    return [item["id"] for item in body["_embedded"]["inf:job-history"]]


def _newest_first(runs: list[Run]) -> list[str]:
    return [str(r.pk) for r in sorted(runs, key=lambda r: (r.created_at, str(r.pk)), reverse=True)]


def test_start_limit_and_total(as_user, viewer, job):
    expected = _newest_first(make_runs(job, 7))
    client = as_user(viewer)
    body = client.get(f"/api/jobs/{job.pk}/history?limit=3&start=2").json()
    assert (body["start"], body["count"], body["total"], body["totalIsEstimate"]) == (2, 3, 7, False)
    assert _ids(body) == expected[2:5]
    assert "prev" in body["_links"]
    assert "next" in body["_links"]


def test_default_limit_is_30(as_user, viewer, job):
    make_runs(job, 31)
    body = as_user(viewer).get(f"/api/jobs/{job.pk}/history").json()
    assert (body["count"], body["total"]) == (30, 31)


def test_the_last_page_has_no_next_link(as_user, viewer, job):
    make_runs(job, 4)
    body = as_user(viewer).get(f"/api/jobs/{job.pk}/history?limit=2&start=2").json()
    assert body["count"] == 2
    assert "next" not in body["_links"]


def test_a_start_past_the_end_is_an_empty_page(as_user, viewer, job):
    make_runs(job, 2)
    body = as_user(viewer).get(f"/api/jobs/{job.pk}/history?start=10").json()
    assert (body["count"], body["total"], _ids(body)) == (0, 2, [])


@pytest.mark.parametrize(
    ("sort", "key", "reverse"),
    [
        ("createdAt", lambda r: (r.created_at, str(r.pk)), False),
        ("-duration", lambda r: (r.duration_ms, str(r.pk)), True),
        ("httpStatus", lambda r: (r.http_status, str(r.pk)), False),
        ("-latenessMs", lambda r: (r.lateness_ms, str(r.pk)), True),
    ],
)
def test_sorting(as_user, viewer, job, sort, key, reverse):
    runs = make_runs(job, 6)
    for index, run in enumerate(runs):
        run.duration_ms = (index * 37) % 5 * 100
        run.http_status = 200 + (index * 7) % 4
        run.lateness_ms = (index * 13) % 6
    Run.objects.bulk_update(runs, ["duration_ms", "http_status", "lateness_ms"])
    body = as_user(viewer).get(f"/api/jobs/{job.pk}/history?sort={sort}").json()
    assert _ids(body) == [str(r.pk) for r in sorted(runs, key=key, reverse=reverse)]


def test_a_non_keyset_sort_pages_by_start(as_user, viewer, job):
    make_runs(job, 5, duration_ms=10)
    body = as_user(viewer).get(f"/api/jobs/{job.pk}/history?sort=duration&limit=2").json()
    query = parse_qs(urlsplit(body["_links"]["next"]["href"]).query)
    assert query["start"] == ["2"]
    assert "cursor" not in query


def _follow(client, href: str, seen: list[str], insert=None) -> None:
    while href:
        body = client.get(href).json()
        seen.extend(_ids(body))
        if insert:
            insert()
        href = body["_links"].get("next", {}).get("href")


def test_cursor_paging_skips_and_repeats_nothing_while_runs_arrive(as_user, viewer, job):
    original = _newest_first(make_runs(job, 25, start=timezone.now() - timedelta(hours=1)))
    client = as_user(viewer)
    first = client.get(f"/api/jobs/{job.pk}/history?limit=4").json()
    assert "cursor=" in first["_links"]["next"]["href"]
    seen = _ids(first)
    arrivals = iter(range(100))

    def new_run_arrives() -> None:
        make_runs(job, 2, start=timezone.now() + timedelta(seconds=next(arrivals)))

    _follow(client, first["_links"]["next"]["href"], seen, insert=new_run_arrives)
    assert seen == original  # in order, each exactly once; the newer arrivals come before the cursor


def test_start_paging_would_repeat_rows_while_runs_arrive(as_user, viewer, job):
    # Why the cursor exists: with offsets, an arrival shifts every later row by one.
    make_runs(job, 6, start=timezone.now() - timedelta(hours=1))
    client = as_user(viewer)
    first = _ids(client.get(f"/api/jobs/{job.pk}/history?limit=3").json())
    make_runs(job, 1, start=timezone.now())
    second = _ids(client.get(f"/api/jobs/{job.pk}/history?limit=3&start=3").json())
    assert set(first) & set(second)


def test_cursor_pages_carry_start_and_a_prev_link_back(as_user, viewer, job):
    expected = _newest_first(make_runs(job, 9))
    client = as_user(viewer)
    page1 = client.get(f"/api/jobs/{job.pk}/history?limit=3").json()
    page2 = client.get(page1["_links"]["next"]["href"]).json()
    assert (page2["start"], _ids(page2)) == (3, expected[3:6])
    back = client.get(page2["_links"]["prev"]["href"]).json()
    assert (back["start"], _ids(back)) == (0, expected[0:3])
    assert "next" in back["_links"]


def test_ascending_cursor_paging(as_user, viewer, job):
    expected = list(reversed(_newest_first(make_runs(job, 7))))
    client = as_user(viewer)
    seen: list[str] = []
    _follow(client, f"/api/jobs/{job.pk}/history?limit=3&sort=createdAt", seen)
    assert seen == expected


def test_cursor_keeps_the_filters(as_user, viewer, job):
    make_runs(job, 5, http_status=500)
    make_runs(job, 5, http_status=200)
    seen: list[str] = []
    _follow(as_user(viewer), f"/api/jobs/{job.pk}/history?limit=2&httpStatus=5xx", seen)
    assert len(seen) == 5
    assert set(Run.objects.filter(pk__in=seen).values_list("http_status", flat=True)) == {500}


def test_total_is_a_floor_past_ten_thousand(as_user, viewer, job):
    insert_ended_runs(job, COUNT_CAP + 1)
    body = as_user(viewer).get("/api/history?limit=1").json()
    assert (body["total"], body["totalIsEstimate"]) == (COUNT_CAP, True)
    body = as_user(viewer).get(f"/api/jobs/{job.pk}/history?limit=1&attempt=1&status=ended&q=").json()
    assert (body["total"], body["totalIsEstimate"]) == (FILTERED_COUNT_CAP, True)
    # Narrowing to one job is no filter for the count: it walks the job's own index range.
    body = as_user(viewer).get(f"/api/history?limit=1&job={job.natural_id}").json()
    assert (body["total"], body["totalIsEstimate"]) == (COUNT_CAP, True)


def test_a_filtered_or_searched_total_is_exact_up_to_its_own_cap(as_user, viewer, job):
    insert_ended_runs(job, FILTERED_COUNT_CAP, http_status=500, response_body="upstream down")
    insert_ended_runs(job, 5, http_status=200, start="2025-01-01 00:00:00")
    client = as_user(viewer)
    for query in ("httpStatus=500", "q=upstream", "endReason=success&q=upstream"):
        body = client.get(f"/api/jobs/{job.pk}/history?limit=1&{query}").json()
        assert (body["total"], body["totalIsEstimate"]) == (FILTERED_COUNT_CAP, False), query
    insert_ended_runs(job, 1, http_status=500, response_body="upstream down", start="2025-02-01 00:00:00")
    body = client.get(f"/api/jobs/{job.pk}/history?limit=1&q=upstream").json()
    assert (body["total"], body["totalIsEstimate"]) == (FILTERED_COUNT_CAP, True)
    body = client.get(f"/api/jobs/{job.pk}/history?limit=1").json()
    assert (body["total"], body["totalIsEstimate"]) == (FILTERED_COUNT_CAP + 6, False)
    # RunWisp's `total` follows the same caps (the dashboard's: tests/history/dashboard/test_runs_matching.py).
    assert client.get(f"/api/tasks/{job.natural_id}/runs?limit=1&search=upstream").json()["total"] == FILTERED_COUNT_CAP


def test_a_search_among_failures_says_past_its_cap_only_when_more_match(as_user, viewer, job):
    """On PostgreSQL such a count walks the newest failures first (history.selectors.run_count), and
    the matches here lie before, inside and after that walk; the totals must not depend on where."""
    insert_ended_runs(job, FILTERED_COUNT_CAP + 1, end_reason="failed", response_body="upstream down")
    insert_ended_runs(job, 2 * FILTERED_COUNT_CAP, end_reason="failed", response_body="refused", start="2025-01-01")
    insert_ended_runs(job, FILTERED_COUNT_CAP, end_reason="failed", response_body="fresh error", start="2026-01-01")
    insert_ended_runs(job, 5, end_reason="success", response_body="fresh upstream refused", start="2026-06-01")
    client = as_user(viewer)
    expected = {
        "UPSTREAM": (FILTERED_COUNT_CAP, True),  # the oldest 1,001: past the walk
        "refused": (FILTERED_COUNT_CAP, True),  # 2,000 inside it
        "fresh": (FILTERED_COUNT_CAP, False),  # the newest 1,000 exactly
        "nowhere": (0, False),
    }
    for text, total in expected.items():
        for path in ("/api/history", f"/api/jobs/{job.pk}/history"):
            body = client.get(f"{path}?limit=1&endReason=failed&q={text}").json()
            assert (body["total"], body["totalIsEstimate"]) == total, (path, text)
    assert SEARCH_WALK_ROWS == 3 * FILTERED_COUNT_CAP  # the layout above assumes this walk
    if connection.vendor == "postgresql":  # 2,000 matches in the walk: it alone decides, nothing else counts
        with CaptureQueriesContext(connection) as captured:
            client.get("/api/history?limit=1&endReason=failed&q=%20refused%20")  # searched as "refused"
        counts = [query["sql"] for query in captured.captured_queries if "COUNT(*)" in query["sql"].upper()]
        assert len(counts) == 1, counts
        assert ") walked WHERE" in counts[0]
