"""Apply a manifest (one transaction per team: all or nothing) and export a team's jobs as one."""

from __future__ import annotations

from typing import Any, cast

from django.db import transaction

from jobs.audit import audit_record
from jobs.calendar_services import calendars_prefetch
from jobs.chains import TRIGGERS_PREFETCH, upstream_first
from jobs.manifest.document import VERSION, Document
from jobs.manifest.entries import Desired, Resolver, job_state
from jobs.manifest.plan import Plan, manifest_plan
from jobs.manifest.shape import entry_of, exported_header
from jobs.models import AuditEntry, Job, Team
from jobs.services import job_delete
from jobs.write import SCHEDULE_PATHS, job_write


def _changed_fields(plan_job: Any) -> dict[str, Any]:
    """The canonical fields an update changes (the whole schedule if any part of it does)."""
    desired, job = plan_job.desired, plan_job.job
    changed = {path: value for path, value in desired.fields.items() if desired.state[path] != getattr(job, path)}
    if any(path in changed for path in SCHEDULE_PATHS):
        changed.update({path: desired.fields[path] for path in SCHEDULE_PATHS})
    return changed


def manifest_apply(*, team: Team, document: Document, prune: bool = False, resolve: Resolver, by: Any = None) -> Plan:
    """Make the plan true, or change nothing: the team is locked, the plan made again inside, each change written
    through jobs.write (audited as the job's own change) and the whole recorded as `manifest.apply`."""
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()
        plan = manifest_plan(team=team, document=document, prune=prune, resolve=resolve)
        if not plan.changed:
            return plan
        # A job is written after the jobs it follows, so that each exists when its `after` is saved.
        by_name = {item.natural_id: item for item in plan.jobs}
        order = upstream_first([item.natural_id for item in plan.jobs], plan.peers)
        ordered = [by_name[name] for name in order] + [item for item in plan.jobs if item.natural_id not in order]
        for item in ordered:
            if item.action == "create":
                desired = cast(Desired, item.desired)  # every entry of the manifest has one
                job_write(team=team, fields=desired.fields, steps=desired.steps, by=by, peers=plan.peers)
            elif item.action == "update":
                new_steps = any(change.path.startswith(("steps", "request")) for change in item.changes)
                job_write(
                    team=team,
                    job=item.job,
                    fields=_changed_fields(item),
                    steps=cast(Desired, item.desired).steps if new_steps else None,
                    by=by,
                    peers=plan.peers,
                )
            elif item.action == "delete":
                job_delete(job=cast(Job, item.job), by=by)  # a job not in the manifest
        names = {
            action: [j.natural_id for j in plan.jobs if j.action == action] for action in ("create", "update", "delete")
        }
        audit_record(
            team=team,
            action=AuditEntry.Action.MANIFEST_APPLY,
            target_type="team",
            target_id=team.slug,
            target_label=team.slug,
            actor=by,
            details={
                "summary": plan.summary(),
                "created": names["create"],
                "updated": names["update"],
                "deleted": names["delete"],
                "prune": prune,
            },
        )
    return plan


def manifest_export(*, team: Team) -> dict[str, Any]:
    """The team's jobs as a manifest: defaults left out, secret header values as {secretFrom: stored}."""
    jobs = (
        Job.objects.filter(team=team)
        .prefetch_related("steps", calendars_prefetch(), TRIGGERS_PREFETCH)
        .order_by("natural_id")
    )
    return {
        "version": VERSION,
        "jobs": {job.natural_id: entry_of(job_state(job), header=exported_header(job.secret_headers)) for job in jobs},
    }
