"""The engine's Prometheus instruments, the one-line hooks that feed them, and the scrape-time gauges.

Counters and histograms are recorded by whichever process does the work (a Celery prefork child,
a gunicorn worker) and merged at scrape time: prometheus_client's multiprocess mode keeps each
process's values in a file under PROMETHEUS_MULTIPROC_DIR (config/settings.py sets it before
anything imports prometheus_client). Gauges are not kept per process at all: the backlog and the
dispatcher's delay are read from the database when /metrics is scraped, so they are exact across
machines and no dead process can leave a stale value behind.

Hooks called inside a transaction record on commit, so a rolled-back write is never counted.
A failing metric never fails the engine: it is logged and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Min
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from history.models import Run
from jobs.models import Job

logger = logging.getLogger(__name__)
run_log = logging.getLogger("jobs.runs")

# Counting stops here: the count walks an index, and a backlog this deep needs attention
# whatever its exact size.
BACKLOG_CAP = 100_000

RUNS_ENDED = Counter("hourglass_runs_ended", "Runs that ended, by end reason.", ["end_reason"])
LATENESS = Histogram(
    "hourglass_run_lateness_seconds",
    "How long after its slot (or a retry's not_before) a run started.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)
DURATION = Histogram(
    "hourglass_run_duration_seconds",
    "How long a run took, from its start to its end.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
TICK_RUNS = Histogram(
    "hourglass_dispatch_runs_per_tick",
    "Runs (pending, skipped, missed) one dispatcher tick created.",
    buckets=(0, 1, 10, 50, 100, 500, 1000, 5000, 10000),
)
TICK_LAG = Histogram(
    "hourglass_dispatch_lag_seconds",
    "How late a dispatcher tick claimed the earliest slot it fired (0 when claimed ahead of it).",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)


def _safely(record: Callable[[], None]) -> None:
    try:
        record()
    except Exception:
        logger.warning("recording a metric failed", exc_info=True)


def _after_commit(record: Callable[[], None]) -> None:
    # At once outside a transaction; robust so a metric can never stop the engine's own callbacks.
    transaction.on_commit(partial(_safely, record), robust=True)


@dataclass(frozen=True)
class EndedRun:
    """What counting and logging an ended run needs, without a model instance."""

    pk: Any
    job_id: Any
    attempt: int
    end_reason: str
    lateness_ms: int | None = None
    duration_ms: int | None = None


def _observe_ended(runs: list[Run | EndedRun], end_reason: str | None) -> None:
    for run in runs:
        reason = end_reason or run.end_reason
        RUNS_ENDED.labels(end_reason=reason).inc()
        if run.lateness_ms is not None:
            LATENESS.observe(max(0, run.lateness_ms) / 1000)
        if run.duration_ms is not None:
            DURATION.observe(run.duration_ms / 1000)
        level = logging.DEBUG if reason == Run.EndReason.SUCCESS else logging.INFO
        if run_log.isEnabledFor(level):
            fields: dict[str, Any] = {"run_id": str(run.pk), "job_id": str(run.job_id), "end_reason": reason}
            fields.update(attempt=run.attempt, duration_ms=run.duration_ms, lateness_ms=run.lateness_ms)
            run_log.log(level, "run ended: %s", reason, extra=fields)


def runs_ended(runs: Iterable[Run | EndedRun], end_reason: str | None = None) -> None:
    """Count, time and log runs that have just ended; `end_reason` overrides a stale in-memory one."""
    ended = list(runs)
    if ended:
        _after_commit(partial(_observe_ended, ended, end_reason))


def dispatch_claimed(jobs: list[Job], now: datetime) -> None:
    """The lag of one claimed chunk: now minus the earliest slot in it (the chunk is in slot order)."""
    slots = [job.next_run_at for job in jobs if job.next_run_at is not None]
    if slots:
        _safely(lambda: TICK_LAG.observe(max(0.0, (now - min(slots)).total_seconds())))


def dispatch_tick(created: int) -> None:
    _safely(lambda: TICK_RUNS.observe(created))


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time, each query served by an index."""

    def collect(self) -> Iterator[Metric]:
        # run_active_idx (status, not_before) WHERE status IN (pending, running); the inner LIMIT
        # caps the rows counted, and order_by() drops the model's ordering, which would sort them.
        active = Run.objects.order_by().values("pk")
        for status in (Run.Status.PENDING, Run.Status.RUNNING):
            count = active.filter(status=status)[:BACKLOG_CAP].count()
            yield GaugeMetricFamily(
                f"hourglass_runs_{status}",
                f"Runs now {status} (the count stops at {BACKLOG_CAP}).",
                value=count,
            )
        # job_due_idx (next_run_at) WHERE enabled: the oldest slot the dispatcher has not fired yet.
        oldest = Job.objects.filter(enabled=True).aggregate(slot=Min("next_run_at"))["slot"]
        behind = max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0
        yield GaugeMetricFamily(
            "hourglass_dispatch_behind_seconds",
            "How long ago the oldest not yet dispatched slot was due (0 when none is overdue).",
            value=behind,
        )
