"""What a manifest would change in a team: each job created, updated (field by field, old → new) or, with prune,
deleted; and for a new schedule its next fire times (DST flagged) and the slots it adds or removes over 7 days."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from history.models import Run
from jobs import schedules
from jobs.calendar_services import attached_by_names, calendars_prefetch
from jobs.calendars import mark_slots
from jobs.chains import TRIGGERS_PREFETCH, manifest_peers
from jobs.manifest.document import Document, ManifestError, Problem, check_top
from jobs.manifest.entries import Desired, Resolver, job_state, read_entry
from jobs.manifest.shape import entry_of, is_shortcut, plain
from jobs.models import Job, Team
from jobs.redact import REDACTED
from jobs.secrets import is_sealed, is_secret
from jobs.write import SCHEDULE_PATHS

PREVIEW_COUNT = 5
SLOT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Secret:
    """A secret header value in a diff: compared by a digest that never leaves the process, shown redacted."""

    digest: str

    def __str__(self) -> str:
        return REDACTED


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        old, new = shown(self.old), shown(self.new)
        if isinstance(self.old, Secret) and isinstance(self.new, Secret):
            new = f"{REDACTED} (a new value)"
        return {"path": self.path, "old": old, "new": new}


@dataclass
class JobPlan:
    natural_id: str
    action: str  # create, update, delete, unchanged
    changes: list[Change] = field(default_factory=list)
    timezone: str = "UTC"
    fire_times: list[dict[str, Any]] | None = None  # for a new schedule: [{"local", "utc", "dst"}]
    slots: dict[str, int] | None = None  # {"added", "removed"} over the next 7 days
    job: Job | None = None
    desired: Desired | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "naturalId": self.natural_id,
            "action": self.action,
            "changes": [change.as_dict() for change in self.changes],
        }
        if self.fire_times is not None:
            found.update(timezone=self.timezone, nextFireTimes=self.fire_times, slots7d=self.slots)
        return found


@dataclass
class Plan:
    team: Team
    jobs: list[JobPlan]
    prune: bool
    # The team's job chains once applied ({natural id: what it follows}), which each write is checked against.
    peers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(job.action != "unchanged" for job in self.jobs)

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(("create", "update", "delete", "unchanged"), 0)
        for job in self.jobs:
            counts[job.action] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "team": self.team.slug,
            "changed": self.changed,
            "summary": self.summary(),
            "jobs": [job.as_dict() for job in self.jobs if job.action != "unchanged"],
        }


def shown(value: Any) -> Any:
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, list):
        return [shown(item) for item in value]
    if isinstance(value, dict):
        return {key: shown(item) for key, item in value.items()}
    return value


def _hidden(marked: Any, compare: bool = True) -> Any:
    """Secret values as Secret; a value given in the manifest (not sealed) is compared with the stored one only
    when `compare`, else it always counts as new: whether a guess equals a stored secret is itself a secret."""
    names = tuple(marked or ())

    def header(name: str, value: Any) -> Any:
        if not is_secret(name, value, names):
            return value
        if not compare and not is_sealed(value):
            return Secret(f"given:{name}")
        return Secret(hashlib.sha256(str(plain(value)).encode("utf-8", "surrogatepass")).hexdigest())

    return header


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """An entry as {dotted path: value}: objects opened (a variable's value and lists stay whole), steps by index."""
    if isinstance(value, dict) and value and path != "variables":
        found: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            found.update({child: item} if path.endswith("variables") else leaves(item, child))
        return found
    if path == "variables" and isinstance(value, dict) and value:
        return {f"variables.{key}": item for key, item in value.items()}
    if path == "steps" and isinstance(value, list):
        found = {}
        for index, item in enumerate(value):
            found.update(leaves(item, f"steps[{index}]"))
        return found
    return {path: value}


def _view(state: dict[str, Any], *, full: bool, shortcut: bool | None = None, compare: bool = True) -> dict[str, Any]:
    return entry_of(state, full=full, header=_hidden(state["secret_headers"], compare), shortcut=shortcut)


def diff(old: dict[str, Any], new: dict[str, Any], *, compare_secrets: bool = True) -> list[Change]:
    shortcut = is_shortcut(old["steps"]) and is_shortcut(new["steps"])
    before = leaves(_view(old, full=True, shortcut=shortcut))
    after = leaves(_view(new, full=True, shortcut=shortcut, compare=compare_secrets))
    paths = list(dict.fromkeys([*before, *after]))
    return [Change(path, before.get(path), after.get(path)) for path in paths if before.get(path) != after.get(path)]


def _schedule(state: dict[str, Any], anchor: datetime, team_id: int) -> schedules.Schedule:
    return schedules.Schedule(
        kind=state["schedule_kind"],
        expression=state["cron_expression"],
        timezone=state["timezone"] or "UTC",
        interval_seconds=state["interval_seconds"],
        run_at=state["run_at"],
        anchor=anchor,
        seed=schedules.spread_seed(team_id, state["natural_id"]),
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def fire_preview(state: dict[str, Any], anchor: datetime, now: datetime, team_id: int) -> list[dict[str, Any]]:
    if not state["enabled"]:
        return []
    schedule, zone = _schedule(state, anchor, team_id), state["timezone"] or "UTC"
    attached = attached_by_names(team_id, list(state.get("calendars") or []))
    return [
        {
            "local": _iso(moment.astimezone(ZoneInfo(zone))),
            "utc": _iso(moment),
            "dst": schedules.dst_note(moment, zone) or None,
            "removedBy": removed or None,
        }
        for moment, removed in mark_slots(attached, schedules.preview(schedule, now, PREVIEW_COUNT), zone)
    ]


def _slots(state: dict[str, Any] | None, anchor: datetime, now: datetime, team_id: int) -> set[datetime]:
    if state is None or not state["enabled"]:
        return set()
    return schedules.between(_schedule(state, anchor, team_id), now, now + SLOT_WINDOW)


def _job_plan(job: Job | None, desired: Desired, now: datetime, compare_secrets: bool, team_id: int) -> JobPlan:
    new = desired.state
    if job is None:
        changes = [Change(path, None, value) for path, value in leaves(_view(new, full=False)).items()]
        old, anchor = None, now
    else:
        old, anchor = job_state(job), job.created_at
        changes = diff(old, new, compare_secrets=compare_secrets)
    plan = JobPlan(desired.natural_id, "create" if job is None else ("update" if changes else "unchanged"), changes)
    plan.job, plan.desired, plan.timezone = job, desired, new["timezone"] or "UTC"
    moved = old is None or any(old[p] != new[p] for p in (*SCHEDULE_PATHS, "enabled", "natural_id", "calendars"))
    if moved and plan.action != "unchanged":
        plan.fire_times = fire_preview(new, anchor, now, team_id)
        before, after = _slots(old, anchor, now, team_id), _slots(new, anchor, now, team_id)
        plan.slots = {"added": len(after - before), "removed": len(before - after)}
    return plan


def manifest_plan(
    *,
    team: Team,
    document: Document,
    prune: bool = False,
    resolve: Resolver,
    now: datetime | None = None,
    compare_secrets: bool = True,
) -> Plan:
    """The plan of `document` for `team`; ManifestError with every problem of every job if any is wrong.

    `compare_secrets=False` (a caller who may not change the jobs) lists every secret value the manifest gives as a
    change rather than say whether it equals the stored one.
    """
    problems = check_top(document)
    if not isinstance(document.data, dict) or not isinstance(document.data.get("jobs") or {}, dict):
        raise ManifestError(problems)
    now = now or timezone.now()
    stored = Job.objects.filter(team=team).prefetch_related("steps", calendars_prefetch(), TRIGGERS_PREFETCH)
    existing = {job.natural_id: job for job in stored}
    entries = {str(key): entry for key, entry in (document.data.get("jobs") or {}).items()}
    peers = manifest_peers(team, entries, prune)
    plans: list[JobPlan] = []
    for natural_id, entry in entries.items():
        desired, found = read_entry(
            team=team,
            job=existing.get(str(natural_id)),
            natural_id=str(natural_id),
            entry=entry,
            resolve=resolve,
            doc=document,
            peers=peers,
        )
        problems += found
        if desired is not None:
            plans.append(_job_plan(existing.get(desired.natural_id), desired, now, compare_secrets, team.pk))
    if prune:
        doomed = {natural_id: job for natural_id, job in sorted(existing.items()) if natural_id not in entries}
        busy = set(Run.objects.filter(job__in=doomed.values()).active().values_list("job__natural_id", flat=True))
        for natural_id in sorted(busy):  # deleting the job would delete the run under way with its history
            problems.append(
                Problem(("jobs", natural_id), "has a run in progress: prune it once the run has ended (or cancel it).")
            )
        plans += [JobPlan(natural_id, "delete", job=job, timezone=job.timezone) for natural_id, job in doomed.items()]
    if problems:
        raise ManifestError(sorted(problems, key=lambda problem: problem.line or 0))
    return Plan(team=team, jobs=plans, prune=prune, peers=peers)
