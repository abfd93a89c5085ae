"""Staging: everything about a run that can be done before its slot, done as soon as its batch arrives.

A batch of run ids comes from the broker up to the dispatcher's look-ahead before the runs are due.
Staging loads the runs (plain rows), builds their plans from a per-process cache of job
definitions keyed by the job's `updated_at`, renders their requests, and claims them with a
lease: `status` stays `pending`, `worker` names the engine and `lease_expires_at` says how long the
claim holds. That is the "claimed, not sent" state. At the slot the engine only sends.

A claim that lapses (the engine's process died before the slot) is the reaper's to undo: the run
goes back to plain `pending` and is published again, as the same attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F, Field

from history.models import Run, RunStep
from history.rollups import ended_of, rollup_ended
from jobs import metrics, templating
from jobs.engine import signing, tracing
from jobs.engine.db import bound_cursor
from jobs.engine.definitions import JobCache, JobDef
from jobs.engine.notify import COUNTED_REASONS, FAILED_REASONS
from jobs.engine.plans import RunMeta, RunPlan, StepPlan
from jobs.engine.runner import render_request, request_snapshot
from jobs.models import Job

_IN_CLAUSE = 500  # ids per IN (...) list, well under SQLite's variable limit


RUN_FIELDS = (
    "id",
    "job_id",
    "team_id",
    "attempt",
    "scheduled_for",
    "not_before",
    "triggered_by",
    "triggered_by_user_id",
    "variables",
    "run_name",
    "cancel_requested_at",
    "job__updated_at",
    "job__enabled",
    "job__schedule_kind",
    "team__slug",
    "team__signing_secret",
    "team__previous_signing_secret",
    "team__previous_signing_secret_expires_at",
)


@dataclass
class Staged:
    """A claimed run, ready to send at `plan.meta.due`."""

    plan: RunPlan
    lease_expires_at: datetime  # the claim's: past it, the reaper may hand the run to another engine


@dataclass
class StagedBatch:
    staged: list[Staged]
    stopped: int  # ended `stopped` while staging (paused job, cancelled before it started)


def staging_lease() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "HOURGLASS_LEASE_GRACE_SECONDS", 30)))


def _load(run_ids: list[str]) -> list[dict[str, Any]]:
    """The runs that are pending and claimed by no engine.

    A lapsed claim is not free: its engine may have sent the run a moment before and still be
    writing that it did. Only the reaper releases it (after its delay, and recording it on the
    run), or the engine itself hands it back; then the run is published again.
    """
    rows: list[dict[str, Any]] = []
    for start in range(0, len(run_ids), _IN_CLAUSE):
        chunk = run_ids[start : start + _IN_CLAUSE]
        query = Run.objects.filter(pk__in=chunk, status=Run.Status.PENDING, lease_expires_at__isnull=True)
        rows += query.order_by().values(*RUN_FIELDS)
    return rows


def _claim(run_ids: list[UUID], leases: list[datetime], engine_id: str) -> set[UUID]:
    """One conditional UPDATE ... RETURNING per lease group: the ids this call claimed.

    The condition (pending, no claim) makes a duplicate message, or a second engine, a no-op.
    """
    meta = Run._meta
    connection = connections[router.db_for_write(Run)]
    quote = connection.ops.quote_name
    col = {name: quote(cast(Field, meta.get_field(name)).column) for name in ("status", "worker", "lease_expires_at")}
    pk = meta.pk
    lease_field = meta.get_field("lease_expires_at")
    claimed: set[UUID] = set()
    by_lease: dict[datetime, list[UUID]] = {}
    for run_id, lease in zip(run_ids, leases, strict=True):
        by_lease.setdefault(lease, []).append(run_id)
    with bound_cursor(connection) as cursor:
        for lease, ids in by_lease.items():
            for start in range(0, len(ids), _IN_CLAUSE):
                chunk = ids[start : start + _IN_CLAUSE]
                sql = (
                    f"UPDATE {quote(meta.db_table)} SET {col['worker']} = %s, {col['lease_expires_at']} = %s "  # noqa: S608
                    f"WHERE {quote(pk.column)} IN ({', '.join(['%s'] * len(chunk))}) AND {col['status']} = %s "
                    f"AND {col['lease_expires_at']} IS NULL "
                    f"RETURNING {quote(pk.column)}"
                )
                params = [
                    engine_id,
                    lease_field.get_db_prep_save(lease, connection),
                    *(pk.get_db_prep_value(run_id, connection) for run_id in chunk),
                    Run.Status.PENDING,
                ]
                cursor.execute(sql, params)
                claimed.update(pk.to_python(row[0]) for row in cursor.fetchall())
    return claimed


def step_rows(run_id: Any, steps: Iterable[StepPlan], status: str, message: str = "") -> list[RunStep]:
    return [
        RunStep(
            run_id=run_id,
            name=step.name,
            key=step.key,
            kind=step.kind,
            opts={"name": step.name},
            depends_on=list(step.depends_on),
            run_if=step.run_if,
            position=step.position,
            status=status,
            result_key="job:status.canceled" if status == RunStep.Status.CANCELED else "",
            message=message,
        )
        for step in steps
    ]


def stop_unsent(runs: list[tuple[Any, JobDef, str]], now: datetime, engine_id: str | None = None) -> int:
    """End pending runs `stopped` (their steps `canceled`) with each one's error; returns how many ended.

    With `engine_id`, only runs that engine has claimed.
    """
    stopped: list[tuple[Any, JobDef]] = []
    with transaction.atomic():
        for run_id, job, error in runs:
            query = Run.objects.filter(pk=run_id, status=Run.Status.PENDING)
            if engine_id is not None:
                query = query.filter(worker=engine_id)
            ended = query.update(
                status=Run.Status.ENDED,
                end_reason=Run.EndReason.STOPPED,
                finished_at=now,
                error=error,
                lease_expires_at=None,
            )
            if ended:
                stopped.append((run_id, job))
        RunStep.objects.bulk_create(
            [
                row
                for run_id, job in stopped
                for row in step_rows(run_id, job.steps, RunStep.Status.CANCELED, "Canceled before the run started")
            ],
            ignore_conflicts=True,
        )
    if stopped:
        ended_runs = [metrics.EndedRun(run_id, job.id, 1, Run.EndReason.STOPPED) for run_id, job in stopped]
        metrics.runs_ended(ended_runs)
        rollup_ended(ended_of(ended_runs, now))
    return len(stopped)


def stop_reason(row: dict[str, Any], job: JobDef | None) -> str | None:
    """Why a pending run must not be sent after all: cancelled before it started, or its job paused.

    A manual run of a paused job is what someone asked for and goes ahead; a one-off job
    disables itself when it fires, so for it `enabled` says nothing.
    """
    if row["cancel_requested_at"] is not None:
        return "Stopped."
    paused = not row["job__enabled"] and row["job__schedule_kind"] != Job.Kind.ONCE
    if row["triggered_by"] in (Run.Trigger.CRON, Run.Trigger.CHAIN) and paused:
        return "Stopped: the job was paused."
    return None


def previous_failures(rows: list[dict[str, Any]], jobs: dict[UUID, JobDef]) -> dict[UUID, tuple[bool, ...]]:
    """Per job with notification steps: its latest ended runs, newest first (True = failed)."""
    history: dict[UUID, tuple[bool, ...]] = {}
    batch_ids = [row["id"] for row in rows]
    for job_id in {row["job_id"] for row in rows}:
        depth = jobs[job_id].notify_depth
        if not depth:
            continue
        reasons = (
            Run.objects.filter(job_id=job_id, status=Run.Status.ENDED, end_reason__in=COUNTED_REASONS)
            .exclude(pk__in=batch_ids)
            .order_by(F("finished_at").desc(nulls_last=True), "-created_at")
            .values_list("end_reason", flat=True)[:depth]
        )
        history[job_id] = tuple(reason in FAILED_REASONS for reason in reasons)
    return history


def first_attempts(rows: list[dict[str, Any]]) -> dict[UUID, str]:
    """For retries: run id -> the id of attempt 1 of the same slot (one query for the batch)."""
    retries = [row for row in rows if row["attempt"] > 1]
    if not retries:
        return {}
    found = Run.objects.filter(
        attempt=1,
        job_id__in={r["job_id"] for r in retries},
        scheduled_for__in={r["scheduled_for"] for r in retries},
    ).values_list("job_id", "scheduled_for", "pk")
    first = {(job_id, slot): str(pk) for job_id, slot, pk in found}
    return {r["id"]: first[key] for r in retries if (key := (r["job_id"], r["scheduled_for"])) in first}


def build_plan(
    row: dict[str, Any], job: JobDef, previous_failed: tuple[bool, ...] = (), idempotency_key: str = ""
) -> RunPlan:
    run_id = str(row["id"])
    scheduled_for: datetime = row["scheduled_for"]
    due = max(scheduled_for, row["not_before"] or scheduled_for)
    variables = row["variables"] if isinstance(row["variables"], dict) else {}
    grace = float(getattr(settings, "HOURGLASS_LEASE_GRACE_SECONDS", 30))
    context = templating.run_context(
        run_id=run_id,
        scheduled_for=scheduled_for,
        job_natural_id=job.natural_id,
        job_name=job.name,
        attempt=row["attempt"],
        job_variables=job.variables,
        run_variables=variables,
    )
    key = idempotency_key or run_id
    # Each HTTP step's request is rendered now: nothing in it depends on the moment it is sent.
    trace_id = tracing.trace_id_of(run_id)
    steps = tuple(_staged_step(step, context, key, job.secret_headers, trace_id) for step in job.steps)
    main = next((step.request for step in steps if step.is_main and step.request is not None), None)
    return RunPlan(
        run_id=run_id,
        job_id=str(job.id),
        job_natural_id=job.natural_id,
        job_name=job.name,
        team_slug=row["team__slug"],
        attempt=row["attempt"],
        scheduled_for=scheduled_for,
        started_at=due,
        context=context,
        secret_headers=job.secret_headers,
        signing_secrets=signing.team_secrets(
            row["team__signing_secret"],
            row["team__previous_signing_secret"],
            row["team__previous_signing_secret_expires_at"],
            now=due,
        ),
        follow_redirects=job.follow_redirects,
        success=job.success,
        steps=steps,
        previous_failed=previous_failed,
        idempotency_key=key,
        anomaly=job.anomaly,
        meta=RunMeta(
            team_id=row["team_id"],
            run_name=row["run_name"],
            triggered_by=row["triggered_by"],
            triggered_by_user_id=row["triggered_by_user_id"],
            variables=variables,
            retry_limit=job.retry_limit,
            backoff_strategy=job.backoff_strategy,
            backoff_base_seconds=job.backoff_base_seconds,
            lease_seconds=sum(step.timeout_s for step in job.steps) + grace,
            due=due,
            job_updated_at=job.updated_at,
            origin=_origin(main.url) if main is not None else "",
        ),
    )


def _staged_step(
    step: StepPlan, context: dict[str, str], key: str, secret_headers: tuple[str, ...], trace_id: str
) -> StepPlan:
    if step.kind != "http":
        return step
    request = render_request(step, context, key, secret_headers, ahead=True, traceparent=tracing.traceparent(trace_id))
    return replace(step, request=request, snapshot=request_snapshot(request))


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def plan_rows(rows: list[dict[str, Any]], jobs: dict[UUID, JobDef]) -> dict[Any, RunPlan]:
    """Plans for loaded run rows: with their notification history and retries' idempotency keys."""
    history = previous_failures(rows, jobs)
    first = first_attempts(rows)
    return {
        row["id"]: build_plan(row, jobs[row["job_id"]], history.get(row["job_id"], ()), first.get(row["id"], ""))
        for row in rows
    }


def stage(run_ids: list[str], *, engine_id: str, now: datetime, cache: JobCache) -> StagedBatch:
    """Load, plan and claim the pending runs among `run_ids`; returns them ready to send."""
    rows = _load(run_ids)
    if not rows:
        return StagedBatch([], 0)
    jobs = cache.get_many({row["job_id"]: row["job__updated_at"] for row in rows})
    rows = [row for row in rows if row["job_id"] in jobs]  # a job deleted since the load
    stopped = [
        (row["id"], jobs[row["job_id"]], reason) for row in rows if (reason := stop_reason(row, jobs[row["job_id"]]))
    ]
    stopped_ids = {run_id for run_id, _, _ in stopped}
    wanted = [row for row in rows if row["id"] not in stopped_ids]
    lease = staging_lease()
    leases = [max(row["scheduled_for"], row["not_before"] or row["scheduled_for"], now) + lease for row in wanted]
    with transaction.atomic():
        ended = stop_unsent(stopped, now) if stopped else 0
        claimed = _claim([row["id"] for row in wanted], leases, engine_id) if wanted else set()
    mine = [(row, until) for row, until in zip(wanted, leases, strict=True) if row["id"] in claimed]
    plans = plan_rows([row for row, _ in mine], jobs)
    return StagedBatch([Staged(plans[row["id"]], until) for row, until in mine], ended)
