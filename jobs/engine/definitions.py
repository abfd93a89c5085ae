"""Job definitions as the engine runs them: steps ordered and decrypted, cached per process.

A definition is valid while the job's `updated_at` is the one it was built from: every write
path (the job service, the admin) saves the job, which moves `updated_at`.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from jobs.crypto import decrypt_config
from jobs.engine import plans
from jobs.engine.anomaly import AnomalyRule, rule_for_job
from jobs.engine.plans import StepPlan
from jobs.engine.success import SuccessRule
from jobs.models import Job, JobStep
from jobs.secrets import secret_names
from jobs.steps import DEFAULT_TIMEOUT_MS

JOB_CACHE_SIZE = 10_000


def ordered_steps(steps: Iterable[JobStep]) -> list[JobStep]:
    """Dependencies first, otherwise by position; steps in a cycle come last (and get skipped)."""
    by_name = {step.name: step for step in steps}
    waiting = {name: {d for d in step.depends_on if d in by_name} for name, step in by_name.items()}
    ready = [(step.position, name) for name, step in by_name.items() if not waiting[name]]
    heapq.heapify(ready)
    order: list[JobStep] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(by_name[name])
        for other, deps in waiting.items():
            if name in deps:
                deps.discard(name)
                if not deps:
                    heapq.heappush(ready, (by_name[other].position, other))
    done = {step.name for step in order}
    return order + sorted((s for s in by_name.values() if s.name not in done), key=lambda s: (s.position, s.name))


def step_timeout_s(kind: str, config: dict[str, Any]) -> float:
    if kind == "email":
        return plans.EMAIL_TIMEOUT_S
    return int(config.get("timeout_ms") or DEFAULT_TIMEOUT_MS) / 1000


@dataclass(frozen=True)
class JobDef:
    """What a job's runs need, decrypted and ordered once per (job, updated_at)."""

    id: UUID
    updated_at: datetime
    natural_id: str
    name: str
    variables: dict[str, Any]
    secret_headers: tuple[str, ...]
    follow_redirects: bool
    success: SuccessRule
    retry_limit: int
    backoff_strategy: str
    backoff_base_seconds: int
    steps: tuple[StepPlan, ...]  # in execution order, without a rendered request
    notify_depth: int  # ended runs a notification step looks back at (0: none)
    anomaly: AnomalyRule | None = None  # the thresholds in force


def _step_key(step: JobStep, main: str | None) -> str:
    if step.name == main:
        return plans.MAIN_STEP_KEY
    return plans.STEP_KEYS.get(step.kind, plans.HTTP_STEP_KEY)


def job_definition(job: Job, steps: Iterable[JobStep]) -> JobDef:
    steps = list(steps)
    ordered = ordered_steps(steps)
    main = next((step.name for step in ordered if step.kind == "http"), None)
    notifying = [s for s in ordered if s.kind in ("email", "webhook")]
    depth = max((int(s.config.get("after_failures") or 1) for s in notifying), default=0)
    return JobDef(
        id=job.pk,
        updated_at=job.updated_at,
        natural_id=job.natural_id,
        name=job.name,
        variables=job.variables if isinstance(job.variables, dict) else {},
        # Marked names and every header sealed at rest: a value that was ever secret is redacted and kept on its origin.
        secret_headers=secret_names(job.secret_headers or (), (step.config for step in steps)),
        follow_redirects=job.follow_redirects,
        success=SuccessRule.build(
            statuses=job.success_statuses,
            body_contains=job.success_body_contains,
            body_regex=job.success_body_regex,
            max_latency_ms=job.success_max_latency_ms,
        ),
        retry_limit=job.retry_limit,
        backoff_strategy=job.backoff_strategy,
        backoff_base_seconds=job.backoff_base_seconds,
        steps=tuple(
            StepPlan(
                name=step.name,
                kind=step.kind,
                key=_step_key(step, main),
                run_if=step.run_if,
                depends_on=tuple(step.depends_on),
                config=decrypt_config(step.config),
                timeout_s=step_timeout_s(step.kind, step.config),
                is_main=step.name == main,
                position=step.position,
            )
            for step in ordered
        ),
        # A streak of N needs the N-1 runs before this one; a recovery needs the last one.
        notify_depth=max(1, depth - 1) if notifying else 0,
        anomaly=rule_for_job(job),
    )


class JobCache:
    """Job definitions by id, valid while the job's `updated_at` is the one they were built from."""

    def __init__(self, size: int = JOB_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[UUID, JobDef] = OrderedDict()

    def get_many(self, wanted: dict[UUID, datetime]) -> dict[UUID, JobDef]:
        """The definitions of these jobs (id -> updated_at); the stale and missing ones are loaded."""
        found: dict[UUID, JobDef] = {}
        for job_id, updated_at in wanted.items():
            entry = self._entries.get(job_id)
            if entry is not None and entry.updated_at == updated_at:
                self._entries.move_to_end(job_id)
                found[job_id] = entry
        missing = [job_id for job_id in wanted if job_id not in found]
        if missing:
            steps: dict[UUID, list[JobStep]] = {job_id: [] for job_id in missing}
            for step in JobStep.objects.filter(job_id__in=missing).order_by():
                steps[step.job_id].append(step)
            for job in Job.objects.filter(pk__in=missing).order_by():
                found[job.pk] = self._entries[job.pk] = job_definition(job, steps[job.pk])
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return found
