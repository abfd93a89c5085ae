"""The engine's reads and small writes between staging and the end of a run (its reader thread).

- `check`: shortly before a batch staged well ahead is due, which runs are still this engine's
  to send; a scheduled run whose job was paused meanwhile ends `stopped`, a run whose job changed
  is planned again from the new definition.
- `cancelled`: which of this engine's runs someone asked to stop (served by run_cancel_idx).
- `hand_back`: staged runs this engine will not send (shutdown): plain `pending`, published again.
- `crash`: runs an engine gives up on while they are in flight (shutdown past its grace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from history.models import Run
from jobs.engine import reaper, staging
from jobs.engine.definitions import JobCache
from jobs.engine.plans import RunPlan
from jobs.engine.publish import publish_runs
from jobs.engine.staging import Staged

_IN_CLAUSE = 500


@dataclass
class Verdict:
    dropped: set[str] = field(default_factory=set)
    replanned: dict[str, Staged] = field(default_factory=dict)


def _rows(run_ids: list[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(run_ids), _IN_CLAUSE):
        chunk = run_ids[start : start + _IN_CLAUSE]
        for row in Run.objects.filter(pk__in=chunk).order_by().values(*staging.RUN_FIELDS, "status", "worker"):
            rows[str(row["id"])] = row
    return rows


def check(staged: list[Staged], *, engine_id: str, cache: JobCache) -> Verdict:
    verdict = Verdict()
    rows = _rows([item.plan.run_id for item in staged])
    mine = {}
    for item in staged:
        row = rows.get(item.plan.run_id)
        if row is None or row["status"] != Run.Status.PENDING or row["worker"] != engine_id:
            verdict.dropped.add(item.plan.run_id)
        else:
            mine[item.plan.run_id] = (item, row)
    jobs = cache.get_many({row["job_id"]: row["job__updated_at"] for _, row in mine.values()})
    stop = []
    for run_id, (_, row) in mine.items():
        job = jobs.get(row["job_id"])
        reason = staging.stop_reason(row, job)
        if job is None or reason is not None:
            verdict.dropped.add(run_id)
            if job is not None and reason is not None:
                stop.append((row["id"], job, reason))
    if stop:
        staging.stop_unsent(stop, timezone.now(), engine_id)
    changed = [
        (item, row)
        for run_id, (item, row) in mine.items()
        if run_id not in verdict.dropped and _built_from(item.plan) != row["job__updated_at"]
    ]
    if changed:
        plans = staging.plan_rows([row for _, row in changed], jobs)
        for item, row in changed:
            verdict.replanned[item.plan.run_id] = Staged(plans[row["id"]], item.lease_expires_at)
    return verdict


def _built_from(plan: RunPlan) -> Any:
    return plan.meta.job_updated_at if plan.meta else None


def cancelled(engine_id: str) -> set[str]:
    rows = Run.objects.filter(
        worker=engine_id, cancel_requested_at__isnull=False, status__in=(Run.Status.PENDING, Run.Status.RUNNING)
    ).values_list("pk", flat=True)
    return {str(pk) for pk in rows}


def hand_back(run_ids: list[str], engine_id: str) -> int:
    with transaction.atomic():
        mine = list(
            Run.objects.filter(pk__in=run_ids, status=Run.Status.PENDING, worker=engine_id).values_list("pk", flat=True)
        )
        Run.objects.filter(pk__in=mine).update(worker="", lease_expires_at=None)
        return publish_runs(mine, now=timezone.now())


def crash(run_ids: list[str], engine_id: str) -> int:
    now = timezone.now()
    return sum(reaper.crash(run_id, now, engine_id=engine_id)[0] for run_id in run_ids)
