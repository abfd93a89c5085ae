"""Scheduling math: the next fire time of a schedule, previews, validation and descriptions.

Cron expressions are evaluated on the job's wall clock, then turned into UTC instants:
- a wall time that does not exist (spring forward) fires once, at the first valid instant
  after the gap;
- a wall time that occurs twice (fall back) fires once, at its first occurrence.
Every returned instant is strictly later than the one asked about, so a slot is never
fired twice.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadDateError, croniter
from django.conf import settings

CRON = "cron"
INTERVAL = "interval"
ONCE = "once"
# No clock: the job runs only when triggered (by hand, or by the jobs it follows: jobs.chains).
NONE = "none"
KINDS = (CRON, INTERVAL, ONCE, NONE)

# Candidates skipped while walking past a repeated (fall-back) hour; a 5-field cron
# fires at most 60 times an hour, so this bounds the loop with a wide margin.
_MAX_SKIPPED_CANDIDATES = 10_000
# A range of one value ("5-5", "5-5/2", "jan-jan"): croniter 7 reads it as the whole cycle
# (every hour, every month); in cron it is that one value, so it is rewritten to "5" before
# croniter sees it (found by the property test).
_ONE_VALUE_RANGE = re.compile(r"(?<![\w-])(\w+)-\1(?:/\d+)?(?![\w/-])", re.IGNORECASE)
_RANGE = re.compile(r"(\w+)-(\w+)")
# Names cron accepts in the month and day-of-week fields, as numbers.
_MONTHS = {name: n for n, name in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_DAYS = {name: n for n, name in enumerate("sun mon tue wed thu fri sat".split())}
_FIELD_NAMES: tuple[dict[str, int], ...] = ({}, {}, {}, _MONTHS, _DAYS)
# Vixie cron's shorthands; stored as written, expanded wherever the expression is evaluated or described.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# In the tz database but not a place: the system's own zone, a placeholder, and the copies of every
# zone under posix/ and right/ (the latter counting leap seconds, which civil time does not).
_NOT_PLACES = frozenset({"localtime", "Factory"})


class ScheduleError(ValueError):
    """A schedule that cannot be used; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Schedule:
    kind: str
    expression: str = ""
    timezone: str = "UTC"
    interval_seconds: int | None = None
    run_at: datetime | None = None
    # Interval slots are anchor + k * interval_seconds, so the cadence never drifts.
    anchor: datetime | None = None
    # What `H` in a cron field is hashed from: the job's team and ID (spread_seed), so a job keeps its
    # minute across restarts and edits that keep its ID.
    seed: str = ""
    # The active window: no slot before start_at or after end_at.
    start_at: datetime | None = None
    end_at: datetime | None = None


@functools.cache
def canonical_timezones() -> frozenset[str]:
    """IANA zone names a job may use (reading them walks the tz database once)."""
    return frozenset(
        name for name in available_timezones() if name not in _NOT_PLACES and not name.startswith(("posix/", "right/"))
    )


def validate_timezone(name: str) -> ZoneInfo:
    if name not in canonical_timezones():
        raise ScheduleError("timezone", f"Unknown timezone {name!r}; use an IANA name such as Europe/Berlin.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError("timezone", f"Unknown timezone {name!r}; use an IANA name such as Europe/Berlin.") from exc


def _reversed_range(fields: list[str]) -> str | None:
    """The first range whose start is past its end ("5-1"): croniter reads it as wrapping round."""
    for names, field in zip(_FIELD_NAMES, fields, strict=True):
        for start, end in _RANGE.findall(field):
            low, high = (names.get(part.lower(), part) for part in (start, end))
            if str(low).isdigit() and str(high).isdigit() and int(low) > int(high):
                return f"{start}-{end}"
    return None


def expand_cron(expression: str) -> str:
    """The five fields of an expression: a macro's expansion, anything else as it is."""
    return MACROS.get(expression, expression)


# `H`, `H/step`, `H(low-high)` and `H(low-high)/step`, as in Jenkins.
_HASHED = re.compile(r"H(?:\((\d+)-(\d+)\))?(?:/(\d+))?")
# Each field's values for `H`; day-of-month stops at 28 so a hashed day exists in every month.
_HASH_BOUNDS = ((0, 59), (0, 23), (1, 28), (1, 12), (0, 6))
_FIELD_LABELS = ("minute", "hour", "day-of-month", "month", "day-of-week")


def spread_seed(team_id: object, natural_id: str) -> str:
    """What a job's `H` and jitter are hashed from: stable for as long as its team and ID are."""
    return f"{team_id}/{natural_id}"


def spread_number(seed: str, salt: str, modulo: int) -> int:
    """A number in [0, modulo) fixed by seed and salt: sha256, so it is the same in every process."""
    digest = hashlib.sha256(f"{seed}\x00{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulo


def is_hashed(expression: str) -> bool:
    return any(_HASHED.fullmatch(part) for field in expression.split(" ") for part in field.split(","))


def _hashed_part(part: str, index: int, seed: str) -> str:
    match = _HASHED.fullmatch(part)
    if not match:
        return part
    field_low, field_high = _HASH_BOUNDS[index]
    low, high = (int(match[1]), int(match[2])) if match[1] is not None else (field_low, field_high)
    label = _FIELD_LABELS[index]
    if not field_low <= low <= high <= field_high:
        raise ScheduleError(
            "expression", f"H({low}-{high}) in the {label} field must lie within {field_low}-{field_high}, low-high."
        )
    if match[3] is None:
        return str(low + spread_number(seed, f"{index}:{part}", high - low + 1))
    step = int(match[3])
    if not 1 <= step <= high - low + 1:
        raise ScheduleError("expression", f"The step of {part} in the {label} field must be 1-{high - low + 1}.")
    start = low + spread_number(seed, f"{index}:{part}", step)
    return f"{start}-{high}/{step}"


def resolve_hashed(expression: str, seed: str) -> str:
    """An expression with each `H` replaced by the value its seed picks ("H * * * *" → "37 * * * *")."""
    if "H" not in expression or expression.startswith("@"):
        return expression
    fields = expression.split(" ")
    if len(fields) != 5:
        return expression
    return " ".join(
        ",".join(_hashed_part(part, index, seed) for part in field.split(",")) for index, field in enumerate(fields)
    )


def jitter_offset(seed: str, slot: datetime, jitter_seconds: int) -> int:
    """A slot's delay in [0, jitter_seconds]: fixed by the job and the slot, so a restart plans the same one."""
    if jitter_seconds <= 0:
        return 0
    return spread_number(seed, f"jitter:{slot.astimezone(UTC).isoformat()}", jitter_seconds + 1)


def validate_cron(expression: str) -> str:
    expression = " ".join((expression or "").split())
    if expression.startswith("@"):
        macro = expression.lower()
        if macro not in MACROS:
            raise ScheduleError(
                "expression", f"Unknown cron macro {expression!r}; use one of {', '.join(MACROS)} or 5 fields."
            )
        return macro
    fields = expression.split(" ") if expression else []
    if len(fields) != 5:
        raise ScheduleError(
            "expression",
            f"Cron expression {expression!r} must have 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}.",
        )
    if is_hashed(expression):
        # Checked with one seed's values: every seed picks within the same bounds, so all are valid alike.
        fields = [field if _HASHED.fullmatch(field) else _ONE_VALUE_RANGE.sub(r"\1", field) for field in fields]
        _check_plain(resolve_hashed(" ".join(fields), ""), shown=expression)
        return " ".join(fields)
    return _check_plain(expression, shown=expression)


def _check_plain(expression: str, *, shown: str) -> str:
    """A 5-field expression without `H`, checked and normalised."""
    fields = expression.split(" ")
    if not croniter.is_valid(expression):
        raise ScheduleError("expression", f"Invalid cron expression {shown!r}.")
    backwards = _reversed_range(fields)
    if backwards:
        raise ScheduleError("expression", f"The range {backwards} in {shown!r} runs backwards; write it low-high.")
    expression = " ".join(_ONE_VALUE_RANGE.sub(r"\1", field) for field in fields)
    try:
        # "0 0 30 2 *" is valid syntax but no date matches it: refuse it here, not at the first tick.
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)  # noqa: DTZ001 - a naive wall time
    except CroniterBadDateError as exc:
        raise ScheduleError("expression", f"Cron expression {shown!r} matches no date.") from exc
    return expression


def _in_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ScheduleError("at", "The run-at time must include a UTC offset or 'Z'.")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before the first representable instant
        raise ScheduleError("at", f"{moment.isoformat()} is out of range.") from None


def validate(schedule: Schedule, *, now: datetime | None = None) -> Schedule:
    """Check a schedule and return it normalised; raises ScheduleError with a clear message.

    A one-off must lie after `now` (default: the current time): one in the past would never fire.
    """
    if schedule.kind == CRON:
        expression = validate_cron(schedule.expression)
        validate_timezone(schedule.timezone)
        return Schedule(CRON, expression, schedule.timezone, anchor=schedule.anchor, seed=schedule.seed)
    if schedule.kind == INTERVAL:
        seconds = schedule.interval_seconds
        if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, int):
            raise ScheduleError("seconds", "An interval schedule needs a whole number of seconds.")
        shortest = max(1, settings.HOURGLASS_MIN_INTERVAL_SECONDS)
        if seconds < shortest:
            raise ScheduleError("seconds", f"The interval must be at least {shortest} seconds, got {seconds}.")
        start = _in_utc(schedule.run_at) if schedule.run_at is not None else None
        return Schedule(INTERVAL, interval_seconds=seconds, run_at=start, anchor=schedule.anchor)
    if schedule.kind == ONCE:
        if schedule.run_at is None:
            raise ScheduleError("at", "A one-off schedule needs a date and time to run at.")
        run_at = _in_utc(schedule.run_at)
        current = now or datetime.now(UTC)
        if run_at <= current:
            raise ScheduleError(
                "at", f"{run_at.isoformat().replace('+00:00', 'Z')} is in the past; a one-off must run later than now."
            )
        return Schedule(ONCE, run_at=run_at, anchor=schedule.anchor)
    if schedule.kind == NONE:
        return Schedule(NONE, timezone=schedule.timezone, anchor=schedule.anchor)
    raise ScheduleError("kind", f"Unknown schedule kind {schedule.kind!r}; use one of {', '.join(KINDS)}.")


def _resolve_wall_time(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which a naive wall time `wall` fires in `tz`."""
    first = wall.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return first.astimezone(UTC)  # exists (fold=0 is the first of a repeated time)
    # In a gap: fire at the first valid instant after it, i.e. at the transition itself.
    # The transition lies between the two readings of the wall time; walk it by minute.
    start = min(first.astimezone(UTC), wall.replace(tzinfo=tz, fold=1).astimezone(UTC))
    offset_before = start.astimezone(tz).utcoffset()
    instant = start.replace(second=0, microsecond=0)
    while instant.astimezone(tz).utcoffset() == offset_before:
        instant += timedelta(minutes=1)
    return instant


def _next_cron(expression: str, tz: ZoneInfo, after: datetime) -> datetime:
    wall_after = after.astimezone(tz).replace(tzinfo=None)
    candidates = croniter(expand_cron(expression), wall_after)
    for _ in range(_MAX_SKIPPED_CANDIDATES):
        instant = _resolve_wall_time(candidates.get_next(datetime), tz)
        if instant > after:
            return instant
    raise ScheduleError("expression", f"No fire time found for {expression!r} after {after.isoformat()}.")


@functools.lru_cache(maxsize=8192)
def _next_cron_memo(expression: str, timezone: str, after: datetime) -> datetime:
    """A pure function of its arguments: a tick's jobs that share a schedule and a slot share one
    evaluation (croniter costs about 0.1 ms per call; 5,000 `* * * * *` jobs due at once made 10,000)."""
    return _next_cron(expression, ZoneInfo(timezone), after)


def _next_interval(seconds: int, anchor: datetime, after: datetime) -> datetime:
    anchor = anchor.astimezone(UTC).replace(microsecond=0)
    if after < anchor:
        return anchor
    elapsed = (after - anchor).total_seconds()
    steps = math.floor(elapsed / seconds) + 1
    return anchor + timedelta(seconds=steps * seconds)


def next_fire(schedule: Schedule, after: datetime) -> datetime | None:
    """The first fire time strictly after `after` (aware), in UTC; None when there is none."""
    if after.tzinfo is None:
        raise ValueError("next_fire needs an aware datetime")
    after = after.astimezone(UTC)
    if schedule.start_at is not None and after < schedule.start_at:
        after = schedule.start_at.astimezone(UTC) - timedelta(microseconds=1)
    fire = _next_unbounded(schedule, after)
    if fire is not None and schedule.end_at is not None and fire > schedule.end_at:
        return None
    return fire


def _next_unbounded(schedule: Schedule, after: datetime) -> datetime | None:
    if schedule.kind == CRON:
        return _next_cron_memo(resolve_hashed(schedule.expression, schedule.seed), schedule.timezone, after)
    if schedule.kind == INTERVAL:
        anchor = schedule.run_at or schedule.anchor or after
        return _next_interval(int(schedule.interval_seconds or 0), anchor, after)
    if schedule.kind == ONCE:
        run_at = schedule.run_at
        return run_at.astimezone(UTC) if run_at and run_at > after else None
    if schedule.kind == NONE:
        return None
    raise ValueError(f"unknown schedule kind {schedule.kind!r}")


def preview(schedule: Schedule, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` fire times after `after`."""
    times: list[datetime] = []
    cursor = after
    while len(times) < count:
        fire = next_fire(schedule, cursor)
        if fire is None:
            break
        times.append(fire)
        cursor = fire
    return times


@functools.lru_cache(maxsize=4096)
def _cron_text(expression: str) -> str:
    """cron-descriptor parses its translation catalogue for every description: about 0.2 ms each,
    twice per row of the jobs list (bench b6). An expression always reads the same."""
    options = Options()
    options.use_24hour_time_format = True
    return ExpressionDescriptor(expand_cron(expression), options).get_description()


def describe(schedule: Schedule) -> str:
    """A human-readable description, e.g. "At 02:30 AM (Europe/Berlin)"."""
    if schedule.kind == CRON:
        resolved = resolve_hashed(schedule.expression, schedule.seed)
        if resolved != schedule.expression:
            return f"{_cron_text(resolved)} ({schedule.timezone}; H spread: {resolved})"
        return f"{_cron_text(schedule.expression)} ({schedule.timezone})"
    if schedule.kind == INTERVAL:
        seconds = int(schedule.interval_seconds or 0)
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                count = seconds // size
                return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
        return "Every second" if seconds == 1 else f"Every {seconds} seconds"
    if schedule.kind == ONCE and schedule.run_at:
        zone = schedule.timezone or "UTC"
        try:
            wall = schedule.run_at.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            wall, zone = schedule.run_at.astimezone(UTC), "UTC"
        return f"Once at {wall:%Y-%m-%d %H:%M:%S} ({zone})"
    if schedule.kind == NONE:
        return "No clock: only when triggered"
    return "Never"


def common_timezones() -> list[str]:
    return sorted(canonical_timezones())


def between(schedule: Schedule, start: datetime, end: datetime, limit: int = 100_000) -> set[datetime]:
    """Every fire time in (start, end], at most `limit` of them (a plan counts the slots a change adds or removes)."""
    times: set[datetime] = set()
    cursor = start
    while len(times) < limit:
        fire = next_fire(schedule, cursor)
        if fire is None or fire > end:
            break
        times.add(fire)
        cursor = fire
    return times


def dst_note(instant: datetime, zone: str) -> str:
    """Why a fire time is on a DST transition in `zone`, or "": a wall time that occurs twice (clocks go back),
    or the first instant after clocks went forward (where a skipped wall time fires)."""
    tz = ZoneInfo(zone)
    local = instant.astimezone(tz)
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return f"{local:%H:%M} occurs twice here as clocks go back; the slot fires once"
    just_before = (instant - timedelta(seconds=1)).astimezone(tz).utcoffset()
    offset = local.utcoffset()
    if just_before is not None and offset is not None and offset > just_before:
        return "clocks go forward here: a slot in the skipped hour fires at this instant"
    return ""


# A chain's outcomes in words (jobs.models.JobTrigger.On's values).
_VERBS = {"success": "succeeds", "failure": "fails", "any": "ends"}


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
