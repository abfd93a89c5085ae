"""Where runs end, alerts are recorded: incidents opened and closed, one pending Delivery per channel.

Called inside the transaction that ends the runs (the result writer, the reaper, the dispatcher's
missed and skipped slots, the auto-pause), so an alert exists exactly when its run's end does.
Nothing is sent here: the deliveries go out from a Celery task (alerts.tasks) once the transaction
commits, so a slow or broken channel never holds the executor. For teams without rules the cost is
one query per call.

`run_warning` is the hook for runs that succeeded but look wrong: whoever decides that calls it
with the run and its reasons, and rules subscribed to `warning` alert. The engine's anomaly
warnings (jobs.engine.anomaly) reach it through `on_run_warnings`, connected in AlertsConfig.ready:
one batch of warnings at a time, after the batch commits, on the result writer's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from alerts.models import EVENT_SEVERITY, AlertRule, Delivery, Event, Incident
from alerts.rules import RuleBook, in_quiet_hours, message
from jobs.models import Job

logger = logging.getLogger(__name__)

FAILED_REASONS = frozenset({"failed", "timeout", "crashed", "blocked", "log_overflow"})
QUIET = "Quiet hours: recorded, not sent."


@dataclass(frozen=True)
class RunEnd:
    """A run that ended: `final` is False for a failure that will be retried (not yet a failed run)."""

    run_id: Any
    job_id: Any
    team_id: int
    end_reason: str
    finished_at: datetime
    final: bool = True
    error: str = ""


class _Recorder:
    """Delivery rows for one call, one per channel and event and run, published on commit."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.rows: list[Delivery] = []
        self.seen: set[tuple[Any, str, str]] = set()
        # (rule, incident) pairs alerted in this call: the rows are not saved yet, so the log cannot say so.
        self.alerted: set[tuple[Any, Any]] = set()

    def add(
        self,
        rule: AlertRule,
        event: str,
        *,
        team_id: int,
        job: Any,
        run_id: Any,
        incident: Incident | None,
        **text: Any,
    ) -> None:
        severity = EVENT_SEVERITY[event]
        quiet = in_quiet_hours(rule, self.now)
        title, body = message(event, incident=incident, run_id=run_id, **text)
        for channel in rule.channels.all():
            key = (channel.pk, event, str(run_id or incident and incident.pk or job))
            if not channel.accepts(severity) or key in self.seen:
                continue
            self.seen.add(key)
            self.rows.append(
                Delivery(
                    team_id=team_id,
                    channel=channel,
                    channel_name=channel.name,
                    rule=rule,
                    incident=incident,
                    job_id=job,
                    run_id=run_id,
                    event=event,
                    severity=severity,
                    title=title,
                    body=body,
                    status=Delivery.Status.SUPPRESSED if quiet else Delivery.Status.PENDING,
                    error=QUIET if quiet else "",
                    next_attempt_at=None if quiet else self.now,
                    created_at=self.now,
                )
            )

    def save(self) -> list[str]:
        if not self.rows:
            return []
        Delivery.objects.bulk_create(self.rows)
        pending = [str(row.pk) for row in self.rows if row.status == Delivery.Status.PENDING]
        if pending:
            from alerts.tasks import publish_deliveries

            publish_deliveries(pending)
        return [str(row.pk) for row in self.rows]


def _labels(job_ids: Iterable[Any]) -> dict[str, str]:
    rows = Job.objects.filter(pk__in=set(job_ids)).values_list("pk", "team__slug", "natural_id")
    return {str(pk): f"{slug}/{natural_id}" for pk, slug, natural_id in rows}


def _open_incident(end: RunEnd, open_incidents: dict[str, Incident]) -> Incident:
    job = str(end.job_id)
    incident = open_incidents.get(job) or Incident.objects.filter(job_id=end.job_id, status="open").first()
    if incident is None:
        try:
            with transaction.atomic():
                incident = Incident.objects.create(
                    team_id=end.team_id, job_id=end.job_id, opened_at=end.finished_at, first_run_id=end.run_id
                )
        except IntegrityError:  # another writer opened it first
            incident = Incident.objects.get(job_id=end.job_id, status="open")
    Incident.objects.filter(pk=incident.pk).update(
        failures=F("failures") + 1, last_run_id=end.run_id, last_error=(end.error or end.end_reason)[:2000]
    )
    incident.refresh_from_db(fields=["failures", "last_run_id", "last_error"])
    open_incidents[job] = incident
    return incident


def _should_alert_failure(rule: AlertRule, incident: Incident, now: datetime) -> bool:
    if incident.failures < max(1, rule.after_failures):
        return False
    last = (
        Delivery.objects.filter(rule=rule, incident=incident, event=Event.FAILURE)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is None:
        return True
    return bool(rule.repeat_every_seconds) and (now - last).total_seconds() >= float(rule.repeat_every_seconds or 0)


def runs_ended(ends: Sequence[RunEnd], now: datetime | None = None) -> list[str]:
    """Open, grow and close incidents for these ended runs and record their alerts; returns the deliveries."""
    counted = [end for end in ends if end.final and (end.end_reason in FAILED_REASONS or end.end_reason == "success")]
    if not counted:
        return []
    book = RuleBook({end.team_id for end in counted}, {end.job_id for end in counted})
    if not book:
        return []
    now = now or timezone.now()
    covered = [end for end in counted if book.for_job(end.job_id, end.team_id)]
    if not covered:
        return []
    labels = _labels(end.job_id for end in covered)
    open_incidents = {
        str(incident.job_id): incident
        for incident in Incident.objects.filter(job_id__in={end.job_id for end in covered}, status="open")
    }
    recorder = _Recorder(now)
    incident: Incident | None
    for end in sorted(covered, key=lambda e: e.finished_at):
        job, label = str(end.job_id), labels.get(str(end.job_id), str(end.job_id))
        common = {"team_id": end.team_id, "job": end.job_id, "run_id": end.run_id, "job_label": label}
        if end.end_reason in FAILED_REASONS:
            incident = _open_incident(end, open_incidents)
            for rule in book.for_job(end.job_id, end.team_id, Event.FAILURE):
                if (rule.pk, incident.pk) not in recorder.alerted and _should_alert_failure(rule, incident, now):
                    recorder.alerted.add((rule.pk, incident.pk))
                    detail = f"Ended {end.end_reason}" + (f": {end.error}" if end.error else "")
                    recorder.add(
                        rule, Event.FAILURE, incident=incident, detail=detail, failures=incident.failures, **common
                    )
            continue
        incident = open_incidents.pop(job, None)
        if incident is None:
            continue
        closed = Incident.objects.filter(pk=incident.pk, status="open").update(
            status="closed", closed_at=end.finished_at, recovery_run_id=end.run_id
        )
        if not closed:
            continue
        incident.status, incident.closed_at, incident.recovery_run_id = "closed", end.finished_at, end.run_id
        for rule in book.for_job(end.job_id, end.team_id, Event.RECOVERY):
            if incident.failures >= max(1, rule.after_failures):
                detail = f"Succeeded after {incident.failures} failed run{'s' if incident.failures != 1 else ''}"
                recorder.add(rule, Event.RECOVERY, incident=incident, detail=detail, **common)
    return recorder.save()


def slots_ended(rows: Iterable[Any], now: datetime | None = None) -> list[str]:
    """The dispatcher's missed and skipped runs (jobs.engine.new_runs.NewRun rows that were inserted)."""
    ended = [row for row in rows if row.end_reason in (Event.MISSED, Event.SKIPPED)]
    if not ended:
        return []
    book = RuleBook({row.team_id for row in ended}, {row.job_id for row in ended})
    if not book:
        return []
    now = now or timezone.now()
    labels = _labels(row.job_id for row in ended)
    recorder = _Recorder(now)
    for row in ended:
        for rule in book.for_job(row.job_id, row.team_id, row.end_reason):
            label = labels.get(str(row.job_id), str(row.job_id))
            detail = f"Slot {row.scheduled_for.isoformat()}: {row.error or row.end_reason}"
            recorder.add(
                rule, row.end_reason, team_id=row.team_id, job=row.job_id, run_id=row.id, incident=None,
                job_label=label, detail=detail,
            )  # fmt: skip
    return recorder.save()


def jobs_paused(paused: Sequence[tuple[Any, int, str]], now: datetime | None = None) -> list[str]:
    """Jobs that paused themselves (jobs.engine.autopause): (job id, team id, reason) each."""
    if not paused:
        return []
    book = RuleBook({team_id for _, team_id, _ in paused}, {job_id for job_id, _, _ in paused})
    if not book:
        return []
    now = now or timezone.now()
    labels = _labels(job_id for job_id, _, _ in paused)
    incidents = {str(i.job_id): i for i in Incident.objects.filter(job_id__in=[p[0] for p in paused], status="open")}
    recorder = _Recorder(now)
    for job_id, team_id, reason in paused:
        for rule in book.for_job(job_id, team_id, Event.AUTO_PAUSE):
            recorder.add(
                rule, Event.AUTO_PAUSE, team_id=team_id, job=job_id, run_id=None,
                incident=incidents.get(str(job_id)), job_label=labels.get(str(job_id), str(job_id)), detail=reason,
            )  # fmt: skip
    return recorder.save()


def run_warning(run_id: Any, reasons: Sequence[str], now: datetime | None = None) -> list[str]:
    """A run that succeeded but is unlike its job's history: alert the rules subscribed to `warning`.

    Call it inside the transaction that records the warning (or outside any); returns the deliveries.
    """
    from history.models import Run

    run = Run.objects.filter(pk=run_id).values("pk", "job_id", "team_id").first()
    if run is None:
        return []
    book = RuleBook({run["team_id"]}, {run["job_id"]})
    rules = book.for_job(run["job_id"], run["team_id"], Event.WARNING)
    if not rules:
        return []
    now = now or timezone.now()
    label = _labels([run["job_id"]]).get(str(run["job_id"]), str(run["job_id"]))
    recorder = _Recorder(now)
    _add_warning(recorder, rules, run["team_id"], run["job_id"], run["pk"], label, reasons)
    return recorder.save()


def runs_warned(warnings: Sequence[Any], now: datetime | None = None) -> list[str]:
    """`run_warning` for a batch of the engine's anomaly warnings (jobs.engine.anomaly.RunWarning).

    The hook runs on the result writer's thread, so it stays cheap: one query for a batch whose
    teams have no rules (two, with the channels, when none subscribes to `warning`); else the job
    labels and one insert of the deliveries, published on commit.
    """
    if not warnings:
        return []
    book = RuleBook({w.team_id for w in warnings}, {w.job_id for w in warnings})
    covered = [(w, rules) for w in warnings if (rules := book.for_job(w.job_id, w.team_id, Event.WARNING))]
    if not covered:
        return []
    labels = _labels(w.job_id for w, _ in covered)
    recorder = _Recorder(now or timezone.now())
    for warning, rules in covered:
        label = labels.get(str(warning.job_id), str(warning.job_id))
        reasons = [finding.message for finding in warning.findings] or [warning.message]
        _add_warning(recorder, rules, warning.team_id, warning.job_id, warning.run_id, label, reasons)
    return recorder.save()


def on_run_warnings(warnings: Sequence[Any]) -> None:
    """The anomaly hook (jobs.engine.anomaly.connect): record the warnings' alerts, never raise."""
    safely(runs_warned, list(warnings))


def _add_warning(
    recorder: _Recorder, rules: list[AlertRule], team_id: int, job: Any, run_id: Any, label: str, reasons: Sequence[str]
) -> None:
    detail = "; ".join(str(reason) for reason in reasons if reason) or "The run looks unlike the job's recent runs."
    for rule in rules:
        recorder.add(
            rule, Event.WARNING, team_id=team_id, job=job, run_id=run_id, incident=None, job_label=label, detail=detail
        )


def safely(record: Any, *args: Any) -> list[str]:
    """Record alerts without ever failing the caller's write: an alert lost is logged, a run lost is worse."""
    try:
        with transaction.atomic():
            return record(*args)
    except Exception:  # the run's end must be written whatever alerting does
        logger.exception("alerts for ended runs could not be recorded")
        return []
