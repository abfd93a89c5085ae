"""Anomaly warnings where results are written: one read and one upsert of baselines per batch.

`assess_batch` takes a batch's ended runs (their rows, about to be written), and for those that
succeeded under an active anomaly rule:
- reads their jobs' baselines (history.models.RunBaseline) in one query;
- judges each run against its job's baseline, oldest end first, then adds it to the baseline, so a
  batch holding several runs of one job judges each against the runs before it;
- marks the warned rows (`warnings`, `warning_kind`, `warning`) before the writer's UPDATE;
- upserts the changed baselines in one statement (sorted by job, so two writers lock in one order).

A batch without such a run costs nothing. Two engines writing runs of one job at the same moment
may each save a baseline missing the other's run: the baseline is a sample, not a ledger.
A run that succeeded while another step failed is a warning of kind `step` (no query needed).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from history.models import RunBaseline
from jobs.engine import anomaly
from jobs.engine.anomaly import Baseline, Finding, RunWarning

if TYPE_CHECKING:
    from jobs.engine.results import RunWrite

_IN_CLAUSE = 500


def _load(job_ids: list[str]) -> dict[str, Baseline]:
    found: dict[str, Baseline] = {}
    for start in range(0, len(job_ids), _IN_CLAUSE):
        rows = RunBaseline.objects.filter(job_id__in=job_ids[start : start + _IN_CLAUSE]).values_list(
            "job_id", "durations_ms", "response_bytes", "json_field", "json_type"
        )
        for job_id, durations, sizes, json_field, json_type in rows:
            found[str(job_id)] = Baseline(list(durations or []), list(sizes or []), json_field, json_type)
    return found


def _save(baselines: dict[str, Baseline], now: datetime) -> None:
    RunBaseline.objects.bulk_create(
        [
            RunBaseline(
                job_id=job_id,
                durations_ms=baseline.durations_ms,
                response_bytes=baseline.response_bytes,
                json_field=baseline.json_field,
                json_type=baseline.json_type,
                updated_at=now,
            )
            for job_id, baseline in sorted(baselines.items())
        ],
        update_conflicts=True,
        unique_fields=["job"],
        update_fields=["durations_ms", "response_bytes", "json_field", "json_type", "updated_at"],
        batch_size=_IN_CLAUSE,
    )


def _step_finding(write: RunWrite) -> Finding | None:
    outcome = write.outcome
    if outcome is None or not outcome.warnings:
        return None
    failed = [name for name, result in outcome.steps.items() if result.status == "error" and result is not outcome.main]
    names = ", ".join(repr(name) for name in failed) or "another step"
    return Finding(anomaly.STEP, f"The request succeeded but {names} failed.")


def _mark(row: dict[str, Any], findings: list[Finding]) -> None:
    row["warnings"] = True
    row["warning_kind"] = findings[0].kind
    row["warning"] = " ".join(finding.message for finding in findings)


def assess_batch(finished: Iterable[RunWrite], rows: dict[str, dict[str, Any]], now: datetime) -> list[RunWarning]:
    """Judge and learn the batch's successful runs; mark warned `rows` in place; returns the warnings."""
    judged = [
        write for write in finished if write.outcome is not None and rows[write.plan.run_id]["end_reason"] == "success"
    ]
    findings: dict[str, list[Finding]] = {}
    for write in judged:
        step = _step_finding(write)
        if step is not None:
            findings[write.plan.run_id] = [step]
    learning = [w for w in judged if w.plan.anomaly is not None and w.plan.anomaly.active]
    if learning:
        learning.sort(key=lambda w: (rows[w.plan.run_id]["finished_at"], w.plan.run_id))
        baselines = _load(sorted({w.plan.job_id for w in learning}))
        changed: dict[str, Baseline] = {}
        for write in learning:
            rule = write.plan.anomaly
            if rule is None:  # filtered above
                continue
            baseline = changed.get(write.plan.job_id) or baselines.get(write.plan.job_id) or Baseline()
            main = write.outcome.main if write.outcome is not None else None
            duration = rows[write.plan.run_id]["duration_ms"]
            size = main.response_bytes if main is not None else None
            json_type = main.json_type if main is not None else None
            found = anomaly.assess(rule, baseline, duration, size, json_type)
            if found:
                findings.setdefault(write.plan.run_id, []).extend(found)
            anomaly.learn(rule, baseline, duration, size, json_type)
            changed[write.plan.job_id] = baseline
        _save(changed, now)
    warnings: list[RunWarning] = []
    for write in judged:
        marked = findings.get(write.plan.run_id)
        if not marked:
            continue
        row = rows[write.plan.run_id]
        _mark(row, marked)
        warnings.append(
            RunWarning(
                run_id=write.plan.run_id,
                job_id=write.plan.job_id,
                team_id=write.plan.meta.team_id,
                kind=row["warning_kind"],
                message=row["warning"],
                findings=tuple(marked),
                finished_at=row["finished_at"],
            )
        )
    return warnings
