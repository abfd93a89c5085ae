"""Rows for the API: a page's steps are the same whether they come in the page's query or after an OFFSET."""

from __future__ import annotations

import pytest

from history.models import Run
from history.rows import row_of, run_rows
from history.selectors import with_details
from tests.api_support import add_step, make_runs
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_a_page_past_an_offset_has_the_same_rows_and_steps(team):
    job = JobFactory(team=team)
    for run in make_runs(job, 4):
        add_step(run, "main", message="first")
        add_step(run, "notify", status="error", error="boom")
    ordered = Run.objects.filter(job=job).order_by("-created_at", "-id")

    inline, offset = run_rows(ordered[:3]), run_rows(ordered[1:3])
    instances = [row_of(run) for run in with_details(ordered)[:3]]

    assert offset == inline[1:] == instances[1:]
    assert [step["name"] for step in offset[0]["steps"]] == ["main", "notify"]
