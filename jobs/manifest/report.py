"""A plan as people read it (a table per job) or as machines do (JSON)."""

from __future__ import annotations

import json
from typing import Any

from jobs.manifest.plan import Plan

_MARKS = {"create": "+", "update": "~", "delete": "-"}
CHANGES = 2  # a plan that changes something, as `terraform plan -detailed-exitcode` (0: none, 1: an error)


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _time(iso: str) -> str:
    return iso.replace("T", " ").replace("Z", " UTC")


def plan_text(plan: Plan) -> str:
    counts = plan.summary()
    lines = [
        f"Plan for team {plan.team.slug}: {counts['create']} to create, {counts['update']} to update,"
        f" {counts['delete']} to delete, {counts['unchanged']} unchanged."
    ]
    for job in plan.jobs:
        if job.action == "unchanged":
            continue
        lines.append(f"\n{_MARKS[job.action]} {job.natural_id} ({job.action})")
        rows = [change.as_dict() for change in job.changes]
        width = max((len(row["path"]) for row in rows), default=0)
        for row in rows:
            shown = _value(row["new"]) if job.action == "create" else f"{_value(row['old'])} → {_value(row['new'])}"
            lines.append(f"    {row['path']:<{width}}  {shown}")
        if job.fire_times is not None:
            if not job.fire_times:
                lines.append("    Next fire times: none (paused, or a one-off that has passed)")
            else:
                lines.append(f"    Next fire times ({job.timezone} | UTC):")
                for fire in job.fire_times:
                    note = f"   DST: {fire['dst']}" if fire["dst"] else ""
                    note += f"   skipped: {fire['removedBy']}" if fire.get("removedBy") else ""
                    lines.append(f"      {_time(fire['local'])}  |  {_time(fire['utc'])}{note}")
            slots = job.slots or {}
            lines.append(
                f"    Slots over the next 7 days: +{slots.get('added', 0)} added, -{slots.get('removed', 0)} removed"
            )
    if not plan.changed:
        lines.append("No changes: the team's jobs match the manifest.")
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.as_dict(), indent=2, ensure_ascii=False) + "\n"
