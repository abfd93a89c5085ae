"""Writes on calendars (create, change, delete) and on which calendars a job uses; the reads the dispatcher and the
previews need. The rules themselves are jobs.calendars'."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.db.models import Prefetch

from core.errors import Conflict
from jobs import calendars as rules
from jobs.audit import audit_record
from jobs.calendar_models import Calendar, JobCalendar
from jobs.errors import Errors
from jobs.models import NATURAL_ID_RE, AuditEntry, Job, Team
from jobs.text import unclean_paths

CALENDAR_FIELDS = ("name", "description", "holidays", "dates", "windows")


def _in_use(calendar: Calendar, jobs: list[str]) -> Conflict:
    """A calendar that jobs still use cannot be deleted: detach it from them first (409 naming the jobs)."""
    shown = ", ".join(jobs[:10]) + (f" and {len(jobs) - 10} more" if len(jobs) > 10 else "")
    return Conflict(f"The calendar {calendar.name!r} is attached to {shown}; detach it from them first.", jobs=jobs)


def calendar_lookup(team: Team | int, ref: str) -> Calendar | None:
    """The team's calendar named `ref`, or whose UUID it is."""
    team_id = team.pk if isinstance(team, Team) else team
    found = Calendar.objects.filter(team_id=team_id, name=ref).first()
    if found is None:
        try:
            found = Calendar.objects.filter(team_id=team_id, pk=uuid.UUID(ref)).first()
        except ValueError:
            return None
    return found


def _clean_name(value: Any, errors: Errors) -> str:
    if not isinstance(value, str) or not value:
        errors.add("name", "Give the calendar a name.")
        return ""
    if len(value) > 100 or not re.match(NATURAL_ID_RE, value):
        errors.add("name", "Use only letters, digits, '.', '_' and '-' (1–100 characters).")
    return value


def calendar_validate(*, team: Team, calendar: Calendar | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of a calendar write checked at once; raises one ValidationError keyed by field path."""
    errors = Errors()
    for name in fields:
        if name not in CALENDAR_FIELDS:
            errors.add(str(name), "Unknown field.")
    current = {name: getattr(calendar, name) for name in CALENDAR_FIELDS} if calendar is not None else {}
    values = {"name": "", "description": "", "holidays": [], "dates": [], "windows": [], **current, **fields}
    for where, message in unclean_paths(dict(fields)):
        errors.add(where, message)
    clean = {"name": _clean_name(values["name"], errors)}
    description = values["description"]
    if not isinstance(description, str) or len(description) > 2000:
        errors.add("description", "Give text of at most 2,000 characters.")
    clean["description"] = description if isinstance(description, str) else ""
    clean.update(rules.clean_rules(values, errors))
    if clean["name"] and "name" not in errors:
        others = Calendar.objects.filter(team=team, name=clean["name"])
        if calendar is not None:
            others = others.exclude(pk=calendar.pk)
        if others.exists():
            errors.add("name", f"A calendar {clean['name']!r} already exists in team {team.slug!r}.")
    errors.raise_any()
    return clean


@transaction.atomic
def calendar_write(
    *, team: Team, calendar: Calendar | None = None, fields: Mapping[str, Any], by: Any = None
) -> Calendar:
    """Create (calendar=None) or change a calendar; its jobs follow it at their next slot."""
    clean = calendar_validate(team=team, calendar=calendar, fields=fields)
    creating = calendar is None
    target = calendar if calendar is not None else Calendar(team=team)
    before = {name: getattr(target, name) for name in CALENDAR_FIELDS} if not creating else {}
    for name, value in clean.items():
        setattr(target, name, value)
    target.save()
    changed = [name for name in CALENDAR_FIELDS if before.get(name) != clean[name]] if not creating else []
    audit_record(
        team=team,
        action=AuditEntry.Action.CALENDAR_CREATE if creating else AuditEntry.Action.CALENDAR_UPDATE,
        target=target,
        target_label=target.name,
        actor=by,
        details={"fields": changed} if not creating else {"summary": calendar_summary(target)},
    )
    if not creating:
        # A job's definition changed with its calendar: touch it, so caches keyed by updated_at see it.
        Job.objects.filter(calendar_links__calendar=target).update(updated_at=target.updated_at)
    return target


def calendar_delete(*, calendar: Calendar, by: Any = None) -> None:
    with transaction.atomic():
        jobs = sorted(Job.objects.filter(calendar_links__calendar=calendar).values_list("natural_id", flat=True))
        if jobs:
            raise _in_use(calendar, jobs)
        audit_record(
            team=calendar.team_id,
            action=AuditEntry.Action.CALENDAR_DELETE,
            target=calendar,
            target_label=calendar.name,
            actor=by,
        )
        calendar.delete()


def calendar_summary(calendar: Calendar) -> str:
    return rules.summary(calendar.holidays or [], calendar.dates or [], calendar.windows or [])


# --- a job's calendars --------------------------------------------------------------------------


def resolve_attachments(team: Team, specs: list[dict[str, str]], errors: Errors, path: str = "calendars") -> list[dict]:
    """Attachments by name or UUID as names: an unknown calendar is an error on `path`."""
    resolved = []
    for spec in specs:
        found = calendar_lookup(team, spec["calendar"])
        if found is None:
            errors.add(path, f"No calendar {spec['calendar']!r} in team {team.slug!r}.")
            continue
        resolved.append({"calendar": found.name, "mode": spec["mode"]})
    names = [spec["calendar"] for spec in resolved]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        errors.add(path, f"The calendar {twice[0]!r} is attached twice.")
    return resolved


def attach_calendars(job: Job, specs: list[dict[str, str]]) -> None:
    """Make the job's calendars exactly `specs` (names already resolved in the job's team), in that order."""
    by_name = {c.name: c for c in Calendar.objects.filter(team_id=job.team_id, name__in=[s["calendar"] for s in specs])}
    JobCalendar.objects.filter(job=job).delete()
    JobCalendar.objects.bulk_create(
        JobCalendar(job=job, calendar=by_name[spec["calendar"]], mode=spec["mode"], position=index)
        for index, spec in enumerate(specs)
    )
    if hasattr(job, "_prefetched_objects_cache"):
        job._prefetched_objects_cache.pop("calendar_links", None)


def calendars_prefetch() -> Prefetch:
    """For a list of jobs: their calendars in one query (what their schedule's description names)."""
    return Prefetch("calendar_links", queryset=JobCalendar.objects.select_related("calendar").order_by("position"))


def attached_for_jobs(job_ids: Iterable[Any]) -> dict[Any, list[rules.Attached]]:
    """The calendars of each job, as the dispatcher evaluates them (one query for them all)."""
    found: dict[Any, list[rules.Attached]] = defaultdict(list)
    ids = list(job_ids)
    if not ids:
        return found
    links = JobCalendar.objects.filter(job_id__in=ids).select_related("calendar").order_by("job_id", "position")
    compiled: dict[Any, rules.Rules] = {}
    for link in links:
        if link.calendar_id not in compiled:
            compiled[link.calendar_id] = rules.compile_rules(link.calendar)
        found[link.job_id].append(rules.Attached(compiled[link.calendar_id], link.mode))
    return found


def attached_for_job(job: Job) -> list[rules.Attached]:
    return rules.attached_of(job.attached_calendars())


def attached_by_names(team_id: int, specs: list[dict[str, str]]) -> list[rules.Attached]:
    """Calendars named in a form not saved yet (the live preview); unknown names are left out."""
    by_name = {c.name: c for c in Calendar.objects.filter(team_id=team_id, name__in=[s["calendar"] for s in specs])}
    return [
        rules.Attached(rules.compile_rules(by_name[spec["calendar"]]), spec["mode"])
        for spec in specs
        if spec["calendar"] in by_name and spec["mode"] in rules.MODES
    ]
