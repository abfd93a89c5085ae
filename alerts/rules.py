"""Which rules cover a job, whether an alert falls in a rule's quiet hours, and what an alert says."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.urls import reverse

from alerts.models import AlertRule, Event, Incident


class RuleBook:
    """The enabled rules of some teams, read in one query: a job's own rules, else its team's defaults."""

    def __init__(self, team_ids: Iterable[int], job_ids: Iterable[Any]) -> None:
        teams, jobs = set(team_ids), {str(job_id) for job_id in job_ids}
        self.by_job: dict[str, list[AlertRule]] = defaultdict(list)
        self.defaults: dict[int, list[AlertRule]] = defaultdict(list)
        if not teams:
            return
        rules = (
            AlertRule.objects.filter(team_id__in=teams, enabled=True)
            .filter(Q(job__isnull=True) | Q(job_id__in=jobs))
            .prefetch_related("channels")
        )
        for rule in rules:
            if rule.job_id is None:
                self.defaults[rule.team_id].append(rule)
            else:
                self.by_job[str(rule.job_id)].append(rule)

    def __bool__(self) -> bool:
        return bool(self.by_job or self.defaults)

    def for_job(self, job_id: Any, team_id: int, event: str | None = None) -> list[AlertRule]:
        rules = self.by_job.get(str(job_id)) or self.defaults.get(team_id, [])
        return [rule for rule in rules if event is None or event in (rule.events or [])]


def in_quiet_hours(rule: AlertRule, at: datetime) -> bool:
    """Whether `at` falls in the rule's weekly quiet window (its days, from start to end, in its zone).

    A window whose end is not after its start spans midnight: it belongs to the day it starts on.
    """
    if rule.quiet_start is None or rule.quiet_end is None:
        return False
    local = at.astimezone(ZoneInfo(rule.quiet_timezone or "UTC"))
    days = set(rule.quiet_days or range(7))
    now = local.time()
    start, end = rule.quiet_start, rule.quiet_end
    if start < end:
        return local.weekday() in days and start <= now < end
    started_today = local.weekday() in days and now >= start
    started_yesterday = (local.weekday() - 1) % 7 in days and now < end
    return started_today or started_yesterday


def incident_url(incident: Incident | None) -> str:
    if incident is None:
        return ""
    base = str(getattr(settings, "HOURGLASS_BASE_URL", "")).rstrip("/")
    return base + reverse("alerts:incident-detail", kwargs={"incident_id": incident.pk})


_TITLES: dict[str, str] = {
    Event.FAILURE: "{job} failed",
    Event.RECOVERY: "{job} recovered",
    Event.MISSED: "{job} missed a slot",
    Event.SKIPPED: "{job} skipped a slot",
    Event.AUTO_PAUSE: "{job} paused itself",
    Event.WARNING: "{job} succeeded with warnings",
    Event.TEST: "Test alert from Hourglass",
}


def message(
    event: str,
    *,
    job_label: str,
    incident: Incident | None = None,
    run_id: Any = None,
    detail: str = "",
    failures: int = 0,
) -> tuple[str, str]:
    """The title and body of an alert: what happened, to which job and run, and a link to the incident."""
    title = "Hourglass: " + _TITLES[event].format(job=job_label)
    if event == Event.FAILURE and failures > 1:
        title += f" ({failures} times in a row)"
    lines = [detail] if detail else []
    if run_id:
        lines.append(f"Run: {run_id}")
    if incident is not None:
        lines.append(f"Incident: {incident_url(incident)}")
    return title[:250], "\n".join(lines) or title
