"""History search (`q`): a case-insensitive substring of the run name, the error or the response body.

The same answers on SQLite and PostgreSQL, and on PostgreSQL the trigram indexes answer the
query as it is written (so an index can never change what a search finds).
"""

from __future__ import annotations

import pytest
from django.db import connection

from history.models import Run
from history.selectors import RunFilter, run_list
from jobs.access import actor_for_user
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db

TEXTS = [  # (run_name, error, response_body)
    ("nightly-sync-20250301", None, '{"ok": true}'),
    ("nightly-sync-20250302", "HTTP 503 is not a success status", '{"error": "Upstream failed"}'),
    ("export", "TimeoutError", None),
    ("import", "blocked: 10.0.0.8 is a private address", ""),
    ("Grüße-job", None, "100% done; a_b and a%b"),
    ("", "ConnectionRefusedError", "upstream said UPSTREAM twice"),
]
NEEDLES = [
    "upstream", "UPSTREAM", "Up", "a", "ab", "sync-2025", "503", "timeout", "error", "100%", "a_b", "a%b",
    "%", "_", "Grüße", "private address", "nothing like it", "nightly-sync-20250302", '"ok"',
]  # fmt: skip


@pytest.fixture
def searched(owner) -> dict[str, Run]:
    job = JobFactory(team=owner.memberships.get().team)
    runs = {}
    for name, error, body in TEXTS:
        run = RunFactory(job=job, run_name=name, error=error, response_body=body)
        runs[str(run.pk)] = run
    return runs


def _substring_of_any(run: Run, needle: str) -> bool:
    """What `q` has always meant: the needle, ignoring ASCII case, inside one of the three fields."""
    return any(needle.lower() in (value or "").lower() for value in (run.run_name, run.error, run.response_body))


@pytest.mark.parametrize("needle", NEEDLES)
def test_it_finds_exactly_the_runs_containing_the_needle(owner, searched, needle):
    found = {
        str(pk) for pk in run_list(actor=actor_for_user(owner), filters={"q": needle}).values_list("pk", flat=True)
    }
    expected = {pk for pk, run in searched.items() if _substring_of_any(run, needle)}
    assert found == expected


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram indexes are PostgreSQL's")
def test_it_answers_from_the_trigram_indexes_on_postgresql(owner, searched):
    queryset = RunFilter(data={"q": "upstream"}, queryset=Run.objects.order_by()).qs  # the search alone
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a handful of rows: make the planner show its options
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for index in ("run_name_trgm", "run_error_trgm", "run_body_trgm"):
        assert index in plan, plan
