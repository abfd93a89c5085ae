"""The executor's write side: a batch's results, saved in one transaction, and its retries."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from history.models import Run, RunStep
from jobs import metrics
from jobs.batch import Claimed, update_rows, with_db_retry
from jobs.plans import RunOutcome
from jobs.retries import schedule_retries

logger = logging.getLogger(__name__)

RUN_RESULT_FIELDS = [
    "status",
    "end_reason",
    "finished_at",
    "duration_ms",
    "http_status",
    "response_body",
    "error",
    "exit_code",
    "warnings",
    "request",
]
STEP_RESULT_FIELDS = [
    "status",
    "result_key",
    "message",
    "exit_code",
    "http_status",
    "response_body",
    "error",
    "started_at",
    "finished_at",
    "duration_ms",
]


def _apply(claimed: Claimed, outcome: RunOutcome) -> None:
    run, main = claimed.run, outcome.main
    run.status, run.end_reason = Run.Status.ENDED, outcome.end_reason
    run.finished_at = outcome.finished_at
    run.duration_ms = max(
        0, round((outcome.finished_at - (run.started_at or outcome.finished_at)).total_seconds() * 1000)
    )
    run.warnings = outcome.warnings
    if main is not None:
        run.http_status, run.response_body, run.error, run.exit_code = (
            main.http_status,
            main.response_body,
            main.error,
            main.exit_code,
        )
        run.request = main.request or {}
    if outcome.end_reason == Run.EndReason.STOPPED:
        run.error = run.error or "Stopped"
    for row in claimed.steps:
        result = outcome.steps[row.name]
        for name in STEP_RESULT_FIELDS:
            setattr(row, name, getattr(result, name))


def write_results(claimed: list[Claimed], outcomes: dict[str, RunOutcome], now: datetime) -> None:
    """Save every run and step of the batch in one transaction, and insert the retries.

    Only runs still `running` are written: one the reaper declared crashed (its retry already
    inserted) keeps that verdict, so a slot never gets two successes.
    """

    def write() -> list[Run]:
        with transaction.atomic():
            live = set(
                Run.objects.select_for_update()
                .filter(pk__in=[c.run.pk for c in claimed], status=Run.Status.RUNNING)
                .values_list("pk", flat=True)
            )
            runs: list[Run] = []
            steps: list[RunStep] = []
            failed: list[tuple[Run, str | None]] = []
            for item in claimed:
                if item.run.pk not in live:
                    ids = {"run_id": str(item.run.pk), "job_id": str(item.run.job_id)}
                    message = "run %s was ended elsewhere while it ran; its result is dropped"
                    logger.warning(message, item.run.pk, extra=ids)
                    continue
                outcome = outcomes[str(item.run.pk)]
                _apply(item, outcome)
                runs.append(item.run)
                steps += item.steps
                if outcome.retryable and outcome.main is not None:
                    failed.append((item.run, outcome.main.retry_after))
            update_rows(Run, runs, RUN_RESULT_FIELDS)
            update_rows(RunStep, steps, STEP_RESULT_FIELDS)
            schedule_retries(failed, now)
        return runs

    metrics.runs_ended(with_db_retry(write))
