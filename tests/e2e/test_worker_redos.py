"""A body pattern that backtracks exponentially in Python's `re` runs in linear time, through a real worker."""

import pytest

from tests.e2e.conftest import wait_until
from tests.e2e.support import once_job, runs_of

pytestmark = pytest.mark.e2e

# `(x+)+z` against a run of `x` with no `z` backtracks exponentially in Python's re: 28 bytes held a
# pool process for 28.5 s. The target sends 100 KB of `x`; the success rule reads the first 16 KB.
REDOS = "(x+)+z"


def test_a_redos_pattern_neither_holds_its_run_nor_delays_another_teams(start_worker, team, other_team, target):
    # One pool process, so both teams' runs (and the dispatcher's ticks) share it, as on a busy worker.
    worker = start_worker(concurrency=1)
    hostile = once_job(team, target.url("/bytes/100000"), success_body_regex=REDOS)
    neighbour = once_job(other_team, target.url("/ok"), in_seconds=2)

    [hostile_run] = wait_until(lambda: runs_of(hostile, status="ended"), 20, "the ReDoS run to end", worker)
    [neighbour_run] = wait_until(lambda: runs_of(neighbour, status="ended"), 20, "the other team's run", worker)

    assert (hostile_run.end_reason, hostile_run.error) == ("failed", f"Body does not match /{REDOS}/")
    assert hostile_run.duration_ms < 2000
    assert hostile_run.response_body.endswith("...[truncated]")
    assert neighbour_run.end_reason == "success"
    assert neighbour_run.scheduled_for > hostile_run.scheduled_for  # due after the ReDoS run had started
    assert 0 <= neighbour_run.lateness_ms < 2500  # the bound the every-second slot test holds runs to
