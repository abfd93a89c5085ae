"""The one write path for jobs: every field checked, every error gathered, then one save.

Callers (the API, the dashboard, commands) pass canonical input: the job's fields by the names of
JOB_FIELDS (the Job model's), and steps as jobs.steps reads them. All that is wrong comes back in one
ValidationError keyed by canonical paths: a field ("success_statuses"), a step's ("steps[0].name") or
a step setting's ("steps[0].config.url"). Each caller maps those paths onto its own names
(jobs.api.inputs.API_PATHS, jobs.forms.apply_errors).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import Field

from jobs import calendars, schedules, templating
from jobs.anomaly_fields import MAX_WINDOW, check_anomaly, json_field_rule, number_rule
from jobs.calendar_services import resolve_attachments
from jobs.chains import MAX_WITHIN_SECONDS, check_after, clean_after
from jobs.engine.success import compile_body_regex, parse_statuses
from jobs.errors import Errors
from jobs.models import NATURAL_ID_RE, Job, Team
from jobs.services import job_create, job_update
from jobs.steps import clean_steps, template_errors
from jobs.text import unclean_paths


@dataclass(frozen=True)
class JobField:
    """One field of a job: its canonical path (the Job model field it is stored in) and its rule."""

    path: str
    rule: Callable[[Any], Any]
    help: str
    # False for what is not a column of Job but rows of its own (its calendars, its triggers): empty by default.
    column: bool = True

    @property
    def default(self) -> Any:
        return cast(Field, Job._meta.get_field(self.path)).get_default() if self.column else []


def _text(max_length: int, *, blank: bool = True, pattern: str = "") -> Callable[[Any], str]:
    def rule(value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Must be text.")
        if not blank and not value:
            raise ValidationError("This field is required.")
        if len(value) > max_length:
            raise ValidationError(f"At most {max_length} characters, not {len(value)}.")
        if pattern and not re.match(pattern, value):
            raise ValidationError("Use only letters, digits, '.', '_' and '-' (1–100 characters).")
        if unclean_paths(value):
            raise ValidationError("Null characters and lone surrogates are not allowed.")
        return value

    return rule


def _integer(low: int, high: int, *, null: bool = False) -> Callable[[Any], int | None]:
    def rule(value: Any) -> int | None:
        if value is None and null:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Must be a whole number.")
        if not low <= value <= high:
            raise ValidationError(f"Must be {low}–{high}, not {value}.")
        return value

    return rule


def _choice(choices: Any) -> Callable[[Any], str]:
    values = [value for value, _ in choices]

    def rule(value: Any) -> str:
        if value not in values:
            raise ValidationError(f"{value!r} is not one of {', '.join(values)}.")
        return value

    return rule


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("Must be true or false.")
    return value


def _statuses(value: Any) -> str:
    text = _text(200, blank=False)(value)
    try:
        parse_statuses(text)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    return text


def _regex(value: Any) -> str:
    text = _text(500)(value)
    if text:
        try:
            compile_body_regex(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
    return text


def _variables(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError('Give a JSON object, e.g. {"region": "eu"}.')
    bad = [name for name in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", str(name))]
    if bad:
        raise ValidationError(f"Variable names start with a letter or '_': {', '.join(map(repr, bad))}.")
    taken = [name for name in value if name in templating.BUILTIN_NAMES]
    if taken:
        raise ValidationError(f"{', '.join(map(repr, taken))} is a built-in name; choose another.")
    if unclean_paths(value):
        raise ValidationError("Null characters and lone surrogates are not allowed.")
    if len(json.dumps(value)) > 100_000:
        raise ValidationError("At most 100,000 characters of JSON.")
    return value


def _header_names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValidationError("Give a list of header names.")
    names = [name.strip() for name in value if name.strip()]
    bad = [name for name in names if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}", name)]
    if bad:
        raise ValidationError(f"Not a header name: {', '.join(map(repr, bad))}.")
    return list(dict.fromkeys(names))


def _calendars(value: Any) -> list[dict[str, str]]:
    """The shape of a job's calendars: [{"calendar": name or UUID, "mode": exclude|only}]; names are resolved later."""
    if not isinstance(value, list):
        raise ValidationError('Give a list, e.g. [{"calendar": "holidays", "mode": "exclude"}].')
    if len(value) > calendars.MAX_ATTACHED:
        raise ValidationError(f"At most {calendars.MAX_ATTACHED} calendars.")
    specs = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"calendar", "mode"} or not isinstance(item.get("calendar"), str):
            raise ValidationError('Give each as {"calendar": "<name>", "mode": "exclude" or "only"}.')
        mode = item.get("mode", calendars.EXCLUDE)
        if mode not in calendars.MODES:
            raise ValidationError(f"The mode of {item['calendar']!r} is exclude or only, not {mode!r}.")
        if not item["calendar"] or len(item["calendar"]) > 100 or unclean_paths(item["calendar"]):
            raise ValidationError("A calendar is named by its name (1–100 characters) or its UUID.")
        specs.append({"calendar": item["calendar"], "mode": mode})
    return specs


def _at(value: Any) -> datetime | None:
    if value is not None and not isinstance(value, datetime):
        raise ValidationError("Must be a date and time.")
    return value


_MAX_INT = 2_147_483_647
# Every field of a job a caller may set. The API (jobs.api.inputs.API_PATHS) and the dashboard form
# (jobs.forms.JobForm) map these paths onto their own names; tests/jobs/test_one_write_path.py checks
# that neither has a field the other lacks.
JOB_FIELDS: tuple[JobField, ...] = (
    JobField("natural_id", _text(100, blank=False, pattern=NATURAL_ID_RE), "The job's ID: unique in its team."),
    JobField("name", _text(200), "A name to show; the ID when left blank."),
    JobField("description", _text(10_000), "Free text, for people."),
    JobField("enabled", _boolean, "Whether the schedule fires; a paused job can still be run by hand."),
    JobField(
        "schedule_kind", _choice(Job.Kind.choices), "cron, interval, once, or none (no clock: only when triggered)."
    ),
    JobField("cron_expression", _text(200), "A 5-field cron expression (cron only)."),
    JobField("timezone", _text(64, blank=False), "The IANA zone the schedule is read in, e.g. Europe/Berlin."),
    JobField("interval_seconds", _integer(1, _MAX_INT, null=True), "Seconds between runs (interval only)."),
    JobField("run_at", _at, "The one-off time, or an interval's start."),
    JobField("retry_limit", _integer(0, 100), "Retries after a failed attempt (0–100)."),
    JobField("backoff_strategy", _choice(Job.Backoff.choices), "How the wait between attempts grows."),
    JobField("backoff_base_seconds", _integer(0, 86_400), "The first wait between attempts, in seconds."),
    JobField("overlap_policy", _choice(Job.Overlap.choices), "What a slot does while a run is still going."),
    JobField("misfire_grace_seconds", _integer(0, _MAX_INT), "How late a slot may still fire, in seconds."),
    JobField("jitter_seconds", _integer(0, 86_400), "Delay each slot by up to this many seconds (0–86,400)."),
    JobField("start_at", _at, "No slot before this time; read in the job's timezone when it has no offset."),
    JobField("end_at", _at, "No slot after this time: the job then turns itself off."),
    JobField("max_runs", _integer(1, _MAX_INT, null=True), "Turn the job off after this many scheduled runs."),
    JobField(
        "pause_after_failures", _integer(1, 1000, null=True), "Pause the job after this many failed runs in a row."
    ),
    JobField(
        "after",
        clean_after,
        "Jobs of the team whose outcome starts this one: [{job, on}], on success|failure|any.",
        column=False,
    ),
    JobField("after_all", _boolean, "Run once all the jobs in after have had their outcome (fan-in), not after each."),
    JobField(
        "after_within_seconds",
        _integer(1, MAX_WITHIN_SECONDS, null=True),
        "With afterAll: the outcomes must all fall within this many seconds of each other.",
    ),
    JobField("anomaly_window", _integer(3, MAX_WINDOW, null=True), "Successful runs the anomaly checks learn from."),
    JobField("anomaly_min_samples", _integer(2, MAX_WINDOW, null=True), "Runs learned before they warn."),
    JobField("anomaly_duration_k", number_rule(0, 100, null=True), "Warn outside median ± k·MAD of durations; 0: off."),
    JobField(
        "anomaly_size_factor",
        number_rule(0, 1_000_000, null=True, off_or_above=1),
        "Warn when the response size changes by more than this factor; 0: off.",
    ),
    JobField("anomaly_json_field", json_field_rule, "Warn when this JSON field changes type (/a/b or a.b)."),
    JobField("success_statuses", _statuses, "HTTP statuses that count as success, e.g. 200-299,304."),
    JobField("success_body_contains", _text(500), "Text the response body must contain."),
    JobField("success_body_regex", _regex, "An RE2 pattern the response body must match."),
    JobField("success_max_latency_ms", _integer(1, _MAX_INT, null=True), "Slower answers count as failures."),
    JobField("follow_redirects", _boolean, "Follow 3xx answers (within the job's origin rules)."),
    JobField("keep_runs", _integer(1, 1_000_000), "How many of the newest runs to keep."),
    JobField("keep_days", _integer(1, 36_500, null=True), "Delete runs older than this many days."),
    JobField("keep_failed_days", _integer(1, 36_500, null=True), "Keep failed runs this many days instead."),
    JobField("variables", _variables, "Values for {{ name }} in the steps' templates."),
    JobField("secret_headers", _header_names, "Header names whose values are secret: sealed, never shown."),
    JobField(
        "calendars",
        _calendars,
        "Team calendars this job follows: exclude skips the slots inside one, only skips those outside it.",
        column=False,
    ),
)
FIELDS = {field.path: field for field in JOB_FIELDS}
SCHEDULE_PATHS = ("schedule_kind", "cron_expression", "timezone", "interval_seconds", "run_at")
CHAIN_PATHS = ("after", "after_all", "after_within_seconds")
# schedules.ScheduleError.field → the canonical path of that input.
_SCHEDULE_ERROR_PATHS = {
    "kind": "schedule_kind",
    "expression": "cron_expression",
    "timezone": "timezone",
    "seconds": "interval_seconds",
    "at": "run_at",
}


def _schedule(values: Mapping[str, Any], errors: Errors) -> schedules.Schedule | None:
    """The schedule of `values`, validated; a naive run_at is a wall time in the job's zone."""
    if any(path in errors for path in SCHEDULE_PATHS):
        return None
    zone = values["timezone"] or "UTC"
    try:
        tz = schedules.validate_timezone(zone)
    except schedules.ScheduleError as exc:
        errors.add("timezone", exc.message)
        tz = None
    run_at = values["run_at"]
    if run_at is not None and run_at.tzinfo is None:
        if tz is None:
            return None  # a wall time on an unknown clock: the zone's error says it all
        run_at = run_at.replace(tzinfo=ZoneInfo(zone))
    candidate = schedules.Schedule(
        kind=values["schedule_kind"],
        expression=values["cron_expression"] or "",
        timezone=zone if tz is not None else "UTC",
        interval_seconds=values["interval_seconds"],
        run_at=run_at,
    )
    try:
        schedule = schedules.validate(candidate)
    except schedules.ScheduleError as exc:
        errors.add(_SCHEDULE_ERROR_PATHS.get(exc.field, "schedule_kind"), exc.message)
        return None
    # Every kind keeps its zone: a one-off or an interval's start is shown on the clock it was given in.
    return dataclasses.replace(schedule, timezone=zone) if tz is not None else None


def schedule_validate(values: Mapping[str, Any]) -> schedules.Schedule:
    """A schedule from its canonical fields (the rest at their defaults); one ValidationError with every problem."""
    errors = Errors()
    for path in SCHEDULE_PATHS:
        if path in values:
            errors.check(path, FIELDS[path].rule, values[path])
    merged = {**{path: FIELDS[path].default for path in SCHEDULE_PATHS}, **values}
    schedule = _schedule(merged, errors)
    errors.raise_any()
    return cast(schedules.Schedule, schedule)


def _current(job: Job | None) -> dict[str, Any]:
    if job is None:
        return {field.path: field.default for field in JOB_FIELDS}
    return {field.path: getattr(job, field.path) for field in JOB_FIELDS}


def job_validate(
    *,
    team: Team,
    job: Job | None,
    fields: Mapping[str, Any],
    steps: list[dict[str, Any]] | None,
    peers: Mapping[str, list[str]] | None = None,
) -> tuple[dict[str, Any], schedules.Schedule | None, list[dict[str, Any]] | None]:
    """Check a whole write; raises one ValidationError with every problem, keyed by canonical paths.

    `job` is None for a create. `fields` holds the job fields given (for a change, only those to
    change); `steps` the whole list of steps, or None to keep the job's (a create needs them).
    Returns the cleaned fields, the schedule (None if no schedule field was given for a change)
    and the cleaned steps. `peers` is the team's chain graph as it will be (jobs.chains.check_after).
    """
    errors = Errors()
    for path in fields:
        if path not in FIELDS:
            errors.add(path, "Unknown field.")
    clean = {path: errors.check(path, FIELDS[path].rule, value) for path, value in fields.items() if path in FIELDS}
    if job is None and "natural_id" not in fields:
        errors.add("natural_id", "This field is required.")
    values = {**_current(job), **{path: value for path, value in clean.items() if path not in errors}}
    if "name" in clean and not clean["name"]:
        clean["name"] = values["name"] = values["natural_id"] or ""
    schedule = None
    if job is None or any(path in fields for path in SCHEDULE_PATHS):
        schedule = _schedule(values, errors)
    _check_window(clean, values, errors)
    if clean.get("calendars") is not None and "calendars" not in errors:
        clean["calendars"] = resolve_attachments(team, cast("list[dict[str, str]]", clean["calendars"]), errors)
    if peers is not None or any(path in clean for path in CHAIN_PATHS):
        check_after(team=team, job=job, values=values, errors=errors, peers=peers)
    check_anomaly(clean, values, errors)
    natural_id = clean.get("natural_id")
    if natural_id and "natural_id" not in errors:
        others = Job.objects.filter(team=team, natural_id=natural_id)
        if job is not None:
            others = others.exclude(pk=job.pk)
        if others.exists():
            errors.add("natural_id", f"A job {natural_id!r} already exists in team {team.slug!r}.")
    clean_list = None
    if steps is not None:
        clean_list = clean_steps(steps, errors)
    elif job is None:
        errors.add("steps", "A job needs at least one step.")
    _check_templates(job, steps, clean_list, values, errors, variables_changed="variables" in clean)
    errors.raise_any()
    return clean, schedule, clean_list


def _check_window(clean: dict[str, Any], values: dict[str, Any], errors: Errors) -> None:
    """startAt and endAt without an offset are wall times on the job's clock; the window must not run backwards."""
    zone = values["timezone"] or "UTC"
    for path in ("start_at", "end_at"):
        moment = values[path]
        if moment is not None and moment.tzinfo is None:
            if "timezone" in errors:
                continue
            values[path] = moment.replace(tzinfo=ZoneInfo(zone))
            if path in clean:
                clean[path] = values[path]
    start, end = values["start_at"], values["end_at"]
    if start is not None and end is not None and start.tzinfo and end.tzinfo and end <= start:
        errors.add("end_at", "The window must end after it starts.")


def _step_name(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return str(name or ("main" if index == 0 else f"step-{index + 1}"))


def _check_templates(
    job: Job | None,
    given: list[dict[str, Any]] | None,
    cleaned: list[dict[str, Any]] | None,
    values: Mapping[str, Any],
    errors: Errors,
    *,
    variables_changed: bool,
) -> None:
    """Every {{ name }} a step uses must exist when it runs: a job variable or a built-in name."""
    if "variables" in errors:
        return
    known = (*(values["variables"] or {}), *templating.BUILTIN_NAMES)
    if cleaned:
        index_of = {_step_name(raw, index): index for index, raw in enumerate(given or [])}
        for position, step in enumerate(cleaned):
            index = index_of.get(step["name"], position)
            for path, message in template_errors(step, f"steps[{index}]", known).items():
                errors.add(path, message)
    elif given is None and job is not None and variables_changed:
        for job_step in job.steps.all():
            spec = {"kind": job_step.kind, "config": job_step.config or {}}
            for message in template_errors(spec, "", known).values():
                errors.add("variables", f"Step {job_step.name!r}: {message}")


def job_write(
    *,
    team: Team,
    job: Job | None = None,
    fields: Mapping[str, Any],
    steps: list[dict[str, Any]] | None = None,
    by: Any = None,
    peers: Mapping[str, list[str]] | None = None,
) -> Job:
    """Create (job=None) or change a job: validate the whole write, then save it with its secrets and audit."""
    clean, schedule, clean_steps_list = job_validate(team=team, job=job, fields=fields, steps=steps, peers=peers)
    options = {path: value for path, value in clean.items() if path not in SCHEDULE_PATHS}
    attached = options.pop("calendars", None)
    if job is None:
        natural_id = options.pop("natural_id")
        # job_validate raised unless a create has both.
        created_schedule, created_steps = (
            cast(schedules.Schedule, schedule),
            cast(list[dict[str, Any]], clean_steps_list),
        )
        return job_create(
            team=team,
            natural_id=natural_id,
            schedule=created_schedule,
            steps=created_steps,
            created_by=by,
            calendars=attached,
            **options,
        )
    return job_update(job=job, schedule=schedule, steps=clean_steps_list, calendars=attached, **options)
