"""Job chains: a job started by other jobs' outcomes (`after`), checked and saved by the job write service.

A job's `after` lists jobs of its team, each with the outcome that starts it: `success`, `failure` (failed,
timed out, crashed, blocked) or `any` of those. A run's outcome counts once it is final: after its last retry.
Without `after_all` each matching run starts one run of the job. With it, the job runs once every job it follows
has had a matching run within `after_within_seconds` of the others (jobs.engine.chains says which runs those are).
The jobs may not follow each other round in a loop: a save that would close one is refused, naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch

from jobs.errors import Errors
from jobs.models import Job, JobTrigger, Team

MAX_AFTER = 20
MAX_WITHIN_SECONDS = 7 * 86_400
ON_VALUES = tuple(JobTrigger.On.values)
# A page of jobs' `after` (Job.after, and so Job.schedule_text) in one query.
TRIGGERS_PREFETCH = Prefetch("triggers", queryset=JobTrigger.objects.select_related("upstream"))
_VERBS: dict[str, str] = {JobTrigger.On.SUCCESS: "succeeds", JobTrigger.On.FAILURE: "fails", JobTrigger.On.ANY: "ends"}


def clean_after(value: Any) -> list[dict[str, str]]:
    """The rule of the `after` field: a list of {job, on}, each job once; the jobs themselves are checked later."""
    if not isinstance(value, list):
        raise ValidationError('Give a list of {"job": "<ID>", "on": "success|failure|any"}.')
    if len(value) > MAX_AFTER:
        raise ValidationError(f"At most {MAX_AFTER} jobs, not {len(value)}.")
    errors = Errors()
    entries: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        at = f"after[{index}]"
        if not isinstance(item, dict):
            errors.add(at, 'Give {"job": "<ID>", "on": "success|failure|any"}.')
            continue
        unknown = sorted(set(item) - {"job", "on"})
        for name in unknown:
            errors.add(f"{at}.{name}", "Unknown field.")
        job, on = item.get("job"), item.get("on", JobTrigger.On.SUCCESS.value)
        if not isinstance(job, str) or not job.strip():
            errors.add(f"{at}.job", "Give the ID of a job in this team.")
        elif job in seen:
            errors.add(f"{at}.job", f"{job!r} is listed twice.")
        if on not in ON_VALUES:
            errors.add(f"{at}.on", f"{on!r} is not one of {', '.join(ON_VALUES)}.")
        if isinstance(job, str) and job.strip() and on in ON_VALUES:
            seen.add(job)
            entries.append({"job": job.strip(), "on": on})
    if errors:
        raise ValidationError(errors.messages)
    return entries


def team_graph(team: Team) -> dict[str, list[str]]:
    """{natural id: the natural ids it follows} for every job of the team."""
    graph: dict[str, list[str]] = {
        natural_id: [] for natural_id in Job.objects.filter(team=team).values_list("natural_id", flat=True)
    }
    rows = JobTrigger.objects.filter(job__team=team).order_by("job_id", "position")
    for downstream, upstream in rows.values_list("job__natural_id", "upstream__natural_id"):
        graph[downstream].append(upstream)
    return graph


def _loop(graph: Mapping[str, list[str]], start: str) -> list[str] | None:
    """A path start → … → start in trigger order (each job starts the next), or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for upstream in graph.get(node, ()):
            if upstream == start:
                return list(reversed([*path, start]))
            if upstream not in seen:
                seen.add(upstream)
                stack.append((upstream, [*path, upstream]))
    return None


def check_after(
    *,
    team: Team,
    job: Job | None,
    values: Mapping[str, Any],
    errors: Errors,
    peers: Mapping[str, list[str]] | None = None,
) -> None:
    """The jobs of `after` exist in the team, are not the job itself, and close no loop; fan-in has its window.

    `peers` is the team's graph as it will be ({natural id: what it follows}: a manifest's, all jobs at once);
    by default the team's jobs as stored, with this write's change.
    """
    natural_id = values.get("natural_id") or ""
    if values.get("after_all") and "after" not in errors:
        if not values.get("after"):
            errors.add("after_all", "afterAll needs the jobs to wait for in after.")
        if values.get("after_within_seconds") is None and "after_within_seconds" not in errors:
            errors.add("after_within_seconds", "Give the window (in seconds) within which all of them must end.")
    if "after" in errors or not values.get("after"):
        return
    graph = dict(peers) if peers is not None else team_graph(team)
    if peers is None and job is not None and job.natural_id != natural_id:
        # A renamed job keeps its links (they are by UUID): read the stored graph under the new name.
        graph = {
            (natural_id if name == job.natural_id else name): [natural_id if up == job.natural_id else up for up in ups]
            for name, ups in graph.items()
        }
    after = values["after"]
    bad = False
    for index, entry in enumerate(after):
        if entry["job"] == natural_id or (job is not None and entry["job"] == job.natural_id):
            errors.add(f"after[{index}].job", "A job cannot follow itself.")
            bad = True
        elif entry["job"] not in graph:
            errors.add(f"after[{index}].job", f"No job {entry['job']!r} in team {team.slug!r}.")
            bad = True
    if bad or not natural_id:
        return
    graph[natural_id] = [entry["job"] for entry in after]
    loop = _loop(graph, natural_id)
    if loop:
        errors.add("after", f"This would make a loop of jobs starting each other: {' → '.join(loop)}.")


def manifest_peers(team: Team, entries: Mapping[str, Any], prune: bool) -> dict[str, list[str]]:
    """The team's graph once a manifest is applied: its entries' `after` as given, and (unless it prunes them)
    the jobs it leaves out as they are stored."""
    stored = team_graph(team)
    graph = {} if prune else {name: ups for name, ups in stored.items() if name not in entries}
    for natural_id, entry in entries.items():
        after = entry.get("after") if isinstance(entry, dict) else None
        items = after if isinstance(after, list) else []
        graph[natural_id] = [
            item["job"] for item in items if isinstance(item, dict) and isinstance(item.get("job"), str)
        ]
    return graph


def upstream_first(names: list[str], graph: Mapping[str, list[str]]) -> list[str]:
    """`names` ordered so that each comes after the jobs it follows (the graph has no loop: check_after)."""
    wanted, order, done = set(names), [], set()
    for name in names:
        stack = [(name, iter(graph.get(name, ())))]
        while stack:
            node, ups = stack[-1]
            following = next((up for up in ups if up not in done and up in graph), None)
            if following is not None and following not in {n for n, _ in stack}:
                stack.append((following, iter(graph.get(following, ()))))
                continue
            if following is None:
                stack.pop()
                if node not in done:
                    done.add(node)
                    if node in wanted:
                        order.append(node)
    return order


def triggers_replace(job: Job, after: list[dict[str, str]]) -> None:
    """Store `after` (checked by check_after) as the job's triggers."""
    upstream = dict(
        Job.objects.filter(team_id=job.team_id, natural_id__in=[entry["job"] for entry in after]).values_list(
            "natural_id", "pk"
        )
    )
    job.triggers.all().delete()
    JobTrigger.objects.bulk_create(
        JobTrigger(job=job, upstream_id=upstream[entry["job"]], on=entry["on"], position=position)
        for position, entry in enumerate(after)
        if entry["job"] in upstream
    )
    getattr(job, "_prefetched_objects_cache", {}).pop("triggers", None)


def _window(seconds: int | None) -> str:
    if not seconds:
        return ""
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def describe_after(after: list[dict[str, str]], after_all: bool, within_seconds: int | None) -> str:
    """`after` in words: "after import succeeds", "after a succeeds and b succeeds, within 30 minutes"."""
    if not after:
        return ""
    parts = [f"{entry['job']} {_VERBS.get(entry['on'], 'ends')}" for entry in after]
    if not after_all or len(parts) == 1:
        text = "after " + " or ".join(parts)
    else:
        text = "after " + ", ".join(parts[:-1]) + " and " + parts[-1]
    if after_all and within_seconds:
        text += f", within {_window(within_seconds)} of each other" if len(parts) > 1 else ""
    return text
