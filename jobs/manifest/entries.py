"""One manifest entry ↔ one job: read in the API's shape (jobs.api.serializers, unknown fields refused), checked by
jobs.write.job_validate, and written back out from a job's state.

A job's state here is canonical: its JOB_FIELDS values and its steps ({name, kind, run_if, depends_on, config}).
A secret header in an entry is `{secretFrom: env:NAME}` (read when the manifest is planned or applied) or
`{secretFrom: stored}` (keep the value Hourglass holds; what export writes): a secret is never written out.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from django.core.exceptions import ValidationError

from config.problems import flatten_errors
from jobs import schedules
from jobs.api.inputs import api_path, fields_of_input, parsed_anyway, steps_of_input
from jobs.api.serializers import JobSerializer
from jobs.manifest.document import Document, Path, Problem
from jobs.manifest.shape import STORED
from jobs.models import Job, Team
from jobs.redact import REDACTED
from jobs.secrets import REASONS, context_of, keep_stored_secrets
from jobs.write import JOB_FIELDS, SCHEDULE_PATHS, job_validate

ENV_RE = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")

Resolver = Callable[[str], str | None]


class ManifestJobSerializer(JobSerializer):
    """A job as the API takes it, less its ID (the entry's key) and its team (the manifest's)."""

    naturalId = None  # type: ignore[assignment]  # None removes the inherited field (DRF)
    team = None  # type: ignore[assignment]  # None removes the inherited field (DRF)
    refused_fields = {
        "naturalId": "The job's ID is its key under `jobs`.",
        "team": "A manifest is planned and applied for one team, named by the caller.",
    }


def _header_maps(entry: Mapping[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    found: list[tuple[Path, dict[str, Any]]] = []
    request = entry.get("request")
    if isinstance(request, dict) and isinstance(request.get("headers"), dict):
        found.append((("request", "headers"), request["headers"]))
    for group in ("steps", "notify"):
        for index, step in enumerate(entry.get(group) or [] if isinstance(entry.get(group), list) else []):
            config = step.get("config") if isinstance(step, dict) else None
            if isinstance(config, dict) and isinstance(config.get("headers"), dict):
                found.append(((group, index, "config", "headers"), config["headers"]))
    return found


def resolve_secrets(
    entry: dict[str, Any], resolve: Resolver, where: Path, problems: list[Problem], doc: Document
) -> None:
    """Replace each `{secretFrom: …}` header value by its value; `stored` by the placeholder that keeps the stored
    one (the plan then checks that it can be kept, jobs.secrets.keep_stored_secrets)."""
    for path, headers in _header_maps(entry):
        for name, value in list(headers.items()):
            if not isinstance(value, dict):
                continue
            at = (*where, *path, name)
            source = value.get("secretFrom")
            extra = sorted(set(value) - {"secretFrom"})
            headers[name] = ""  # reported once, here, not again by the serializer
            if extra or not isinstance(source, str):
                problems.append(doc.problem(at, "A header's value is text or {secretFrom: env:NAME | stored}."))
                continue
            match = ENV_RE.match(source)
            if source == STORED:
                headers[name] = REDACTED
            elif match:
                found = resolve(match.group(1))
                if found is None:
                    problems.append(doc.problem((*at, "secretFrom"), f"{match.group(1)} is not set."))
                else:
                    headers[name] = found
            else:
                problems.append(doc.problem((*at, "secretFrom"), "Give env:NAME or stored."))


def _unquoted_on(entry: dict[str, Any]) -> None:
    """YAML 1.1 reads a bare `on:` key as the boolean true: in an `after` entry it is `on`."""
    for item in entry.get("after") or [] if isinstance(entry.get("after"), list) else []:
        if isinstance(item, dict) and True in item and "on" not in item:
            item["on"] = item.pop(True)


def _to_path(where: Path, dotted: str) -> Path:
    parts: list[str | int] = list(where)
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", dotted):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _defaults() -> dict[str, Any]:
    return {field.path: field.default for field in JOB_FIELDS}


def schedule_fields(schedule: schedules.Schedule) -> dict[str, Any]:
    """A validated schedule as the job fields that store it (as jobs.services stores it)."""
    return {
        "schedule_kind": schedule.kind,
        "cron_expression": schedule.expression if schedule.kind == schedules.CRON else "",
        "timezone": schedule.timezone or "UTC",
        "interval_seconds": schedule.interval_seconds if schedule.kind == schedules.INTERVAL else None,
        "run_at": schedule.run_at,
    }


def job_state(job: Job) -> dict[str, Any]:
    state = {field.path: getattr(job, field.path) for field in JOB_FIELDS}
    state["steps"] = [
        {"name": s.name, "kind": s.kind, "run_if": s.run_if, "depends_on": list(s.depends_on), "config": s.config}
        for s in job.steps.order_by("position", "name")
    ]
    return state


class Desired:
    """One entry, read and checked: the state it asks for and the input that writes it."""

    def __init__(self, natural_id: str, fields: dict[str, Any], steps: list[dict[str, Any]], state: dict[str, Any]):
        self.natural_id = natural_id
        self.fields = fields  # canonical input for jobs.write (every field)
        self.steps = steps  # raw steps for jobs.write (placeholders keep stored secrets)
        self.state = state  # the job as it would be saved (schedule normalised, steps cleaned, secrets filled in)


def read_entry(
    *,
    team: Team,
    job: Job | None,
    natural_id: str,
    entry: Any,
    resolve: Resolver,
    doc: Document,
    peers: Mapping[str, list[str]] | None = None,
) -> tuple[Desired | None, list[Problem]]:
    """The entry `jobs.<natural_id>` checked by the job service; (None, every problem) when it is not valid.

    `peers`: the team's job chains as the whole manifest makes them (jobs.chains.manifest_peers)."""
    where: Path = ("jobs", natural_id)
    if not isinstance(entry, dict):
        return None, [doc.problem(where, "A job is an object (schedule, request or steps, …).")]
    entry = copy.deepcopy(entry)
    _unquoted_on(entry)
    problems: list[Problem] = []
    resolve_secrets(entry, resolve, where, problems, doc)
    serializer = ManifestJobSerializer(data=entry)
    data: dict[str, Any] | None
    if serializer.is_valid():
        data = dict(serializer.validated_data)
    else:
        problems += [doc.problem(_to_path(where, path), message) for path, message in flatten_errors(serializer.errors)]
        data = parsed_anyway(serializer)
    if data is None:
        return None, problems
    raw_steps, via_request, base_count = steps_of_input(data, None)
    if raw_steps is None:
        if not any(p.path[2:3] in (("request",), ("steps",)) for p in problems):
            problems.append(doc.problem((*where, "request"), "Give a request (at least a URL) or a list of steps."))
        return None, problems
    fields = {**_defaults(), **fields_of_input(data), "natural_id": natural_id}
    given = dict(fields)
    # An unchanged schedule is not checked again: a one-off that has fired stays as it is.
    if job is not None and all(fields[path] == getattr(job, path) for path in SCHEDULE_PATHS):
        given = {path: value for path, value in fields.items() if path not in SCHEDULE_PATHS}
    reported = {p.path for p in problems}
    try:
        clean, schedule, clean_steps = job_validate(team=team, job=job, fields=given, steps=raw_steps, peers=peers)
    except ValidationError as exc:
        for path, messages in exc.message_dict.items():
            at = where if path == "natural_id" else _to_path(where, api_path(path, via_request, base_count))
            if at not in reported:
                problems += [doc.problem(at, message) for message in messages]
        return None, problems
    if problems:
        return None, problems
    state = {**fields, **clean}
    state.update(schedule_fields(schedule) if schedule is not None else {p: getattr(job, p) for p in SCHEDULE_PATHS})
    steps = [{k: v for k, v in step.items() if k != "position"} for step in copy.deepcopy(clean_steps or [])]
    problems += _keep_secrets(job, state, steps, where, doc, via_request, base_count, raw_steps)
    state["steps"] = steps
    return (None, problems) if problems else (Desired(natural_id, fields, raw_steps, state), [])


def _keep_secrets(
    job: Job | None,
    state: dict[str, Any],
    steps: list[dict[str, Any]],
    where: Path,
    doc: Document,
    via_request: bool,
    base_count: int,
    raw_steps: list[dict[str, Any]],
) -> list[Problem]:
    """Fill in the stored values `stored` asks to keep, as the save will; each one it could not keep is a problem."""
    stored = {s.name: s.config for s in job.steps.all()} if job is not None else {}
    after = context_of(
        SimpleNamespace(natural_id=state["natural_id"], name=state["name"], variables=state["variables"])
    )
    before = context_of(job) if job is not None else after
    dropped = keep_stored_secrets(steps, stored, state["secret_headers"] or (), before, after)
    index_of = {str(raw.get("name") or ("main" if i == 0 else f"step-{i + 1}")): i for i, raw in enumerate(raw_steps)}
    problems = []
    for gone in dropped:
        step_path = _to_path((), api_path(f"steps[{index_of.get(gone.step, 0)}].config", via_request, base_count))
        at = (*where, *step_path, "headers", gone.header)
        problems.append(doc.problem(at, f"secretFrom: stored keeps nothing: {REASONS[gone.reason]}"))
    return problems
