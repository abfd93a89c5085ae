"""The soak's invariant checker on hand-made histories: each invariant catches what it names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.chaos.checker import Delivery, Fault, Poll, RunRow, check, render

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SLOTS = [T0 + timedelta(seconds=5 * n) for n in range(6)]


def run(slot: datetime, attempt: int = 1, reason: str = "success", **fields) -> RunRow:
    fields.setdefault("id", f"r-{slot:%S}-{attempt}")
    fields.setdefault("retry_of_id", f"r-{slot:%S}-{attempt - 1}" if attempt > 1 else None)
    fields.setdefault("started_at", slot + timedelta(milliseconds=5))
    return RunRow(job_id="j", scheduled_for=slot, attempt=attempt, status="ended", end_reason=reason, **fields)


def delivered(rows: list[RunRow], at: float = 0.0) -> list[Delivery]:
    first = {row.scheduled_for: row.id for row in rows if row.attempt == 1}
    return [Delivery(at or row.scheduled_for.timestamp(), first[row.scheduled_for], row.attempt) for row in rows]


def invariants(report) -> dict[str, int]:
    return {name: count for name, count in report.invariants() if count}


def test_a_clean_history_breaks_nothing_and_renders_its_table():
    rows = [run(slot) for slot in SLOTS[:4]]
    rows += [run(SLOTS[4], 1, "crashed"), run(SLOTS[4], 2, "success")]
    rows += [run(SLOTS[5], 1, "timeout"), run(SLOTS[5], 2, "timeout")]
    polls = [Poll(T0.timestamp() + n, 200) for n in range(10)]

    report = check({"j": SLOTS}, rows, delivered(rows), [], polls)

    assert report.ok, invariants(report)
    assert report.outcomes == {"success": 4, "success after a crash": 1, "timeout after retries": 1}
    assert report.api["2xx"] == 1.0
    assert "| slots with no run | 0 | ok |" in render(report)


def test_a_slot_without_a_run_is_lost_unless_a_missed_run_covers_it():
    missed = run(SLOTS[3], reason="missed", started_at=None)
    missed = RunRow(
        **{**missed.__dict__, "data": {"missed_from": SLOTS[1].isoformat(), "missed_until": SLOTS[3].isoformat()}}
    )
    rows = [run(SLOTS[0]), missed, run(SLOTS[4])]  # slots 1, 2 inside the span; slot 5 has nothing

    report = check({"j": SLOTS}, rows, delivered([rows[0], rows[2]]), [], [])

    assert report.lost == [("j", SLOTS[5])]
    assert report.outcomes["missed (inside a missed span)"] == 2


def test_two_chains_for_one_slot_are_reported():
    rows = [
        run(SLOTS[0]),
        run(SLOTS[0], 2, "success", retry_of_id="r-00-1"),  # a retry after a success
        run(SLOTS[1], 1, "failed"),
        run(SLOTS[1], 2, "success", retry_of_id="someone-else"),
    ]
    report = check({"j": SLOTS[:2]}, rows, delivered(rows), [], [])

    assert [(slot, why) for _, slot, why in report.double] == [
        (SLOTS[0], "attempt 2 after an attempt that ended success"),
        (SLOTS[1], "attempt 2 does not retry attempt 1"),
    ]


def test_a_run_inside_a_missed_span_is_a_second_chain():
    missed = RunRow(
        **{
            **run(SLOTS[2], reason="missed").__dict__,
            "data": {"missed_from": SLOTS[0].isoformat(), "missed_until": SLOTS[2].isoformat()},
        }
    )
    rows = [run(SLOTS[1]), missed]
    report = check({"j": SLOTS[:3]}, rows, delivered([rows[0]]), [], [])

    assert [(slot, why) for _, slot, why in report.double] == [(SLOTS[1], "also inside a missed span")]


def test_stuck_and_off_schedule_runs_are_reported():
    stuck = RunRow(
        id="s", job_id="j", scheduled_for=SLOTS[0], attempt=1, retry_of_id=None, status="running", end_reason=""
    )
    odd = run(SLOTS[1] + timedelta(seconds=1))
    report = check({"j": SLOTS[:3]}, [stuck, odd, run(SLOTS[1]), run(SLOTS[2])], [], [], [])

    assert report.stuck == ["s"]
    assert report.off_schedule == [("j", odd.scheduled_for)]


def test_a_duplicate_delivery_is_explained_only_by_a_fault_in_flight():
    lapsed = {"lapsed_claims": [{"worker": "vm/1", "lease_expired_at": SLOTS[0].isoformat()}]}
    rows = [run(SLOTS[0], data=lapsed), run(SLOTS[2], data=lapsed), run(SLOTS[4])]
    at0, at1, at2 = (slot.timestamp() for slot in SLOTS[0:5:2])
    again = [Delivery(at0 + 3, "r-00-1", 1), Delivery(at1 + 3, "r-10-1", 1), Delivery(at2 + 3, "r-20-1", 1)]
    kill = Fault("worker_kill9", at0 + 1, at0 + 4)  # under way while slot 0's request was out
    beat = Fault("beat_kill9", at1, at1 + 4)  # a beat holds no request: explains nothing
    cut = Fault("proxy_pg_reset", at2, at2 + 4)  # under way, but slot 2's run records no lapsed claim

    report = check({"j": SLOTS[0:5:2]}, rows, delivered(rows) + again, [kill, beat, cut], [])

    assert report.duplicate_deliveries == 3
    assert report.duplicates_explained == {"worker_kill9": 1}
    assert report.duplicates_unexplained == [("r-10-1", 1), ("r-20-1", 1)]
    assert not report.ok


def test_a_success_the_target_never_saw_is_reported():
    rows = [run(SLOTS[0]), run(SLOTS[1])]
    report = check({"j": SLOTS[:2]}, rows, delivered(rows[:1]), [], [])

    assert report.undelivered_successes == [rows[1].id]


def test_api_availability_and_the_longest_outage():
    start = T0.timestamp()
    statuses = [200, 200, None, 503, None, 200, 500, 200]
    polls = [Poll(start + n, status) for n, status in enumerate(statuses)]

    report = check({}, [], [], [], polls)

    assert report.api == {"polls": 8, "2xx": 0.5, "5xx": 0.25, "answered": 0.75, "longest_outage_s": 3.0}


def test_lateness_is_split_between_faults_and_calm():
    rows = [run(SLOTS[0], started_at=SLOTS[0] + timedelta(seconds=8)), run(SLOTS[5])]
    fault = Fault("pg_stop_fast", SLOTS[0].timestamp() - 1, SLOTS[0].timestamp() + 5)

    report = check({"j": [SLOTS[0], SLOTS[5]]}, rows, delivered(rows), [fault], [])

    assert report.lateness["during faults"] == {"runs": 1, "p50_ms": 8000.0, "p99_ms": 8000.0}
    assert report.lateness["calm"]["runs"] == 1
    assert report.per_fault["pg_stop_fast"]["injected"] == 1
    assert report.per_fault["pg_stop_fast"]["p99_ms"] == 8000.0
