"""The soak's invariant checker: the run table and the target's log against the fault timeline.

It works on plain rows (no ORM), so the regular test suite checks it on hand-made histories.

Invariants (each must be 0):
- **lost slots**: a slot of a job's schedule inside the window with no run and not inside a
  `missed` run's span (`data.missed_from`..`missed_until`);
- **double chains**: a slot with more than one outcome chain: two first attempts, an attempt
  that does not retry the one before it, an attempt after a success, or its own run although a
  `missed` run already covers it;
- **off-schedule runs**: a scheduled run at an instant the job's schedule never fires;
- **stuck runs**: `pending` or `running` once the system has settled;
- **unexplained duplicate deliveries**: the target saw one attempt of one `Idempotency-Key` more
  than once, and either no crash or partition (a worker killed or stopped, PostgreSQL stopped or
  its link cut) was under way while that request was in flight, or the run does not record it (a
  lapsed claim in `data.lapsed_claims`, written by the reaper when it releases the claim);
- **successes never delivered**: a run ended `success` with no request at the target for it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Faults that can make one attempt reach its target twice: the request was sent, and the record
# that it was sent never reached the database before the claim lapsed.
IN_FLIGHT_FAULTS = ("worker_kill9", "worker_sigterm", "pg_stop_fast", "pg_stop_immediate", "proxy_pg")
RETRYABLE = {"failed", "timeout", "crashed"}
# A slot counts as "during a fault" from the fault's start until this long after its end.
RECOVERY_SECONDS = 10.0
# The longest a soak request stays out (the slowest target, 3 s, plus the result write's batching).
IN_FLIGHT_SECONDS = 5.0


@dataclass(frozen=True)
class RunRow:
    id: str
    job_id: str
    scheduled_for: datetime
    attempt: int
    retry_of_id: str | None
    status: str
    end_reason: str
    started_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class Delivery:
    at: float  # epoch seconds
    key: str
    attempt: int


@dataclass(frozen=True)
class Fault:
    kind: str  # e.g. worker_kill9, proxy_pg_blackhole
    started: float
    ended: float
    detail: str = ""

    def family(self) -> str:
        return next((name for name in IN_FLIGHT_FAULTS if self.kind.startswith(name)), self.kind)


@dataclass(frozen=True)
class Poll:
    at: float
    status: int | None  # None: no answer (refused, reset, timed out)


@dataclass
class Report:
    slots: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    lost: list[tuple[str, datetime]] = field(default_factory=list)
    double: list[tuple[str, datetime, str]] = field(default_factory=list)
    off_schedule: list[tuple[str, datetime]] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    deliveries: int = 0
    duplicate_deliveries: int = 0
    duplicates_explained: Counter[str] = field(default_factory=Counter)
    duplicates_unexplained: list[tuple[str, int]] = field(default_factory=list)
    undelivered_successes: list[str] = field(default_factory=list)
    lateness: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    api: dict[str, Any] = field(default_factory=dict)
    per_fault: dict[str, dict[str, Any]] = field(default_factory=dict)

    def invariants(self) -> list[tuple[str, int]]:
        return [
            ("slots with no run", len(self.lost)),
            ("slots with two chains", len(self.double)),
            ("runs off the schedule", len(self.off_schedule)),
            ("runs stuck pending/running", len(self.stuck)),
            ("duplicate deliveries not explained by a fault", len(self.duplicates_unexplained)),
            ("successes the target never saw", len(self.undelivered_successes)),
        ]

    @property
    def ok(self) -> bool:
        return all(count == 0 for _, count in self.invariants())


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def percentile(values: Sequence[float], percent: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(percent / 100 * len(ordered)), 1) - 1]


def _chain_problem(rows: list[RunRow]) -> str:
    """Why the runs of one slot are not one chain ('' when they are)."""
    by_attempt = Counter(row.attempt for row in rows)
    if by_attempt[1] != 1:
        return f"{by_attempt[1]} first attempts"
    ordered = sorted(rows, key=lambda row: row.attempt)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.attempt != before.attempt + 1 or after.retry_of_id != before.id:
            return f"attempt {after.attempt} does not retry attempt {before.attempt}"
        if before.end_reason not in RETRYABLE:
            return f"attempt {after.attempt} after an attempt that ended {before.end_reason or before.status}"
    return ""


def _outcome(rows: list[RunRow]) -> str:
    last = max(rows, key=lambda row: row.attempt)
    if last.status != "ended":
        return last.status
    crashed = any(row.end_reason == "crashed" for row in rows if row is not last)
    if last.end_reason == "success":
        return "success after a crash" if crashed else ("success after retries" if last.attempt > 1 else "success")
    if last.end_reason in RETRYABLE and last.attempt > 1:
        return f"{last.end_reason} after retries"
    return last.end_reason


def _missed_spans(rows: Iterable[RunRow]) -> list[tuple[datetime, datetime]]:
    spans = []
    for row in rows:
        if row.end_reason == "missed" and row.data.get("missed_from"):
            spans.append(
                (_parse(row.data["missed_from"]), _parse(row.data.get("missed_until") or row.data["missed_from"]))
            )
    return spans


def check_slots(report: Report, expected: dict[str, list[datetime]], runs: Sequence[RunRow]) -> None:
    """Every expected slot has exactly one outcome chain (or lies in a `missed` span)."""
    by_job: dict[str, dict[datetime, list[RunRow]]] = defaultdict(lambda: defaultdict(list))
    for row in runs:
        by_job[row.job_id][row.scheduled_for].append(row)
        if row.status in ("pending", "running"):
            report.stuck.append(row.id)
    for job_id, slots in expected.items():
        rows_by_slot = by_job.get(job_id, {})
        spans = _missed_spans(row for rows in rows_by_slot.values() for row in rows)
        known = set(slots)
        if slots:
            end = slots[-1]
            report.off_schedule += [(job_id, slot) for slot in rows_by_slot if slot not in known and slot <= end]
        for slot in slots:
            report.slots += 1
            rows = rows_by_slot.get(slot, [])
            covering = [span for span in spans if span[0] <= slot <= span[1] and slot != span[1]]
            if not rows:
                if covering:
                    report.outcomes["missed (inside a missed span)"] += 1
                else:
                    report.lost.append((job_id, slot))
                continue
            problem = _chain_problem(rows) or ("also inside a missed span" if covering else "")
            if problem:
                report.double.append((job_id, slot, problem))
                continue
            report.outcomes[_outcome(rows)] += 1


def _fault_during(faults: Sequence[Fault], start: float, end: float, families: Sequence[str]) -> Fault | None:
    for fault in faults:
        if fault.family() in families and fault.started <= end and fault.ended + RECOVERY_SECONDS >= start:
            return fault
    return None


def _in_flight_fault(faults: Sequence[Fault], sent: float) -> Fault | None:
    """A crash or partition under way while a request sent at `sent` was out (sent up to the
    longest request, IN_FLIGHT_SECONDS, before the fault began, and before it was over)."""
    for fault in faults:
        if fault.family() in IN_FLIGHT_FAULTS and fault.started - IN_FLIGHT_SECONDS <= sent <= fault.ended:
            return fault
    return None


def check_deliveries(
    report: Report, runs: Sequence[RunRow], deliveries: Sequence[Delivery], faults: Sequence[Fault]
) -> None:
    """Duplicates of one attempt, each explained by a fault in flight; successes all delivered."""
    report.deliveries = len(deliveries)
    arrivals: dict[tuple[str, int], list[float]] = defaultdict(list)
    for delivery in deliveries:
        arrivals[(delivery.key, delivery.attempt)].append(delivery.at)
    first_of: dict[tuple[str, datetime], str] = {
        (row.job_id, row.scheduled_for): row.id for row in runs if row.attempt == 1
    }
    by_key = {(first_of.get((row.job_id, row.scheduled_for), row.id), row.attempt): row for row in runs}
    for (key, attempt), times in arrivals.items():
        if len(times) < 2:
            continue
        times.sort()
        report.duplicate_deliveries += len(times) - 1
        row = by_key.get((key, attempt))
        recorded = row is not None and bool(row.data.get("lapsed_claims"))
        fault = _in_flight_fault(faults, times[0])
        if fault is None or not recorded:
            report.duplicates_unexplained.append((key, attempt))
        else:
            report.duplicates_explained[fault.family()] += len(times) - 1
    for row in runs:
        if row.end_reason != "success":
            continue
        key = first_of.get((row.job_id, row.scheduled_for), row.id)
        if (key, row.attempt) not in arrivals:
            report.undelivered_successes.append(row.id)


def _lateness_seconds(row: RunRow) -> float | None:
    if row.started_at is None or row.attempt != 1:
        return None
    return (row.started_at - row.scheduled_for).total_seconds()


def _summary(values: Sequence[float]) -> dict[str, float | int | None]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {"runs": len(values), "p50_ms": ms(percentile(values, 50)), "p99_ms": ms(percentile(values, 99))}


def check_lateness(report: Report, runs: Sequence[RunRow], faults: Sequence[Fault]) -> None:
    """Lateness (started − slot) of first attempts, for slots due during a fault and in calm periods."""
    during: list[float] = []
    calm: list[float] = []
    for row in runs:
        late = _lateness_seconds(row)
        if late is None:
            continue
        at = row.scheduled_for.timestamp()
        (during if _fault_during(faults, at, at, [f.family() for f in faults]) else calm).append(late)
    report.lateness = {"during faults": _summary(during), "calm": _summary(calm)}


def check_api(report: Report, polls: Sequence[Poll]) -> None:
    """Share of polls answered (2xx, 5xx) or not at all, and the longest stretch without a 2xx."""
    total = len(polls)
    ok = sum(1 for poll in polls if poll.status is not None and 200 <= poll.status < 300)
    server_errors = sum(1 for poll in polls if poll.status is not None and poll.status >= 500)
    unanswered = sum(1 for poll in polls if poll.status is None)
    longest = 0.0
    outage_since: float | None = None
    for poll in sorted(polls, key=lambda p: p.at):
        good = poll.status is not None and 200 <= poll.status < 300
        if not good and outage_since is None:
            outage_since = poll.at
        elif good and outage_since is not None:
            longest = max(longest, poll.at - outage_since)
            outage_since = None
    if outage_since is not None and polls:
        longest = max(longest, max(p.at for p in polls) - outage_since)
    report.api = {
        "polls": total,
        "2xx": round(ok / total, 4) if total else None,
        "5xx": round(server_errors / total, 4) if total else None,
        "answered": round((total - unanswered) / total, 4) if total else None,
        "longest_outage_s": round(longest, 1),
    }


def per_fault_kind(
    report: Report,
    runs: Sequence[RunRow],
    deliveries: Sequence[Delivery],
    faults: Sequence[Fault],
    polls: Sequence[Poll],
) -> None:
    """What each kind of fault did: the slots due while it was under way and what became of them."""
    by_kind: dict[str, list[Fault]] = defaultdict(list)
    for fault in faults:
        by_kind[fault.kind].append(fault)
    first_attempt_at: dict[str, float] = {}
    for row in runs:
        if row.attempt == 1:
            first_attempt_at[row.id] = row.scheduled_for.timestamp()
    for kind, items in sorted(by_kind.items()):
        windows = [(f.started, f.ended + RECOVERY_SECONDS) for f in items]

        def inside(at: float, windows: list[tuple[float, float]] = windows) -> bool:
            return any(start <= at <= end for start, end in windows)

        due = [row for row in runs if inside(row.scheduled_for.timestamp())]
        late = [value for row in due if (value := _lateness_seconds(row)) is not None]
        reasons = Counter(row.end_reason for row in due)
        counted: Counter[tuple[str, int]] = Counter((d.key, d.attempt) for d in deliveries if inside(d.at))
        in_polls = [poll for poll in polls if inside(poll.at)]
        report.per_fault[kind] = {
            "injected": len(items),
            "seconds": round(sum(f.ended - f.started for f in items), 1),
            "runs due": len(due),
            "p50_ms": _summary(late)["p50_ms"],
            "p99_ms": _summary(late)["p99_ms"],
            "crashed": reasons["crashed"],
            "missed": reasons["missed"],
            "retried": sum(1 for row in due if row.attempt > 1),
            "duplicate deliveries": sum(count - 1 for count in counted.values() if count > 1),
            "API 2xx": round(
                sum(1 for p in in_polls if p.status is not None and 200 <= p.status < 300) / len(in_polls), 3
            )
            if in_polls
            else None,
        }


def check(
    expected: dict[str, list[datetime]],
    runs: Sequence[RunRow],
    deliveries: Sequence[Delivery],
    faults: Sequence[Fault],
    polls: Sequence[Poll],
) -> Report:
    report = Report()
    check_slots(report, expected, runs)
    check_deliveries(report, runs, deliveries, faults)
    check_lateness(report, runs, faults)
    check_api(report, polls)
    per_fault_kind(report, runs, deliveries, faults, polls)
    return report


def render(report: Report) -> str:
    """The invariant table, the figures, and a row per fault kind (markdown)."""
    lines = ["| invariant | count | verdict |", "|---|---|---|"]
    for name, count in report.invariants():
        lines.append(f"| {name} | {count} | {'ok' if count == 0 else 'BROKEN'} |")
    lines += ["", "| figure | value |", "|---|---|", f"| slots checked | {report.slots:,} |"]
    for outcome, count in sorted(report.outcomes.items(), key=lambda item: -item[1]):
        lines.append(f"| outcome: {outcome} | {count:,} |")
    rate = report.duplicate_deliveries / report.deliveries if report.deliveries else 0.0
    lines.append(f"| deliveries | {report.deliveries:,} |")
    lines.append(f"| duplicate deliveries | {report.duplicate_deliveries} ({rate:.4%}) |")
    for family, count in sorted(report.duplicates_explained.items()):
        lines.append(f"| duplicates explained by {family} | {count} |")
    for period, figures in report.lateness.items():
        label = f"lateness {period} (p50 / p99, {figures['runs']:,} runs)"
        lines.append(f"| {label} | {figures['p50_ms']} ms / {figures['p99_ms']} ms |")
    api = report.api
    shares = f"{api.get('2xx')} 2xx, {api.get('5xx')} 5xx, {api.get('answered')} answered"
    lines.append(f"| API polls | {api.get('polls')}: {shares} |")
    lines.append(f"| API longest stretch without a 2xx | {api.get('longest_outage_s')} s |")
    if report.per_fault:
        headers = ["fault", "injected", "seconds", "runs due", "p50_ms", "p99_ms", "crashed", "missed", "retried"]
        headers += ["duplicate deliveries", "API 2xx"]
        lines += ["", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for kind, figures in report.per_fault.items():
            cells = [kind, *(str(figures[name]) for name in headers[1:])]
            lines.append("| " + " | ".join(cells) + " |")
    examples = [
        ("lost", report.lost[:5]),
        ("double", report.double[:5]),
        ("off schedule", report.off_schedule[:5]),
        ("stuck", report.stuck[:5]),
        ("unexplained duplicates", report.duplicates_unexplained[:5]),
        ("undelivered successes", report.undelivered_successes[:5]),
    ]
    for name, items in examples:
        if items:
            lines.append(f"\nfirst {name}: {items}")
    return "\n".join(lines)
