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
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadDateError, croniter

CRON = "cron"
INTERVAL = "interval"
ONCE = "once"
KINDS = (CRON, INTERVAL, ONCE)

# Candidates skipped while walking past a repeated (fall-back) hour; a 5-field cron
# fires at most 60 times an hour, so this bounds the loop with a wide margin.
_MAX_SKIPPED_CANDIDATES = 10_000
# A range of one value ("5-5", "5-5/2", "jan-jan"): croniter 7 reads it as the whole cycle
# (every hour, every month); in cron it is that one value, so it is rewritten to "5" before
# croniter sees it (found by the property test).
_ONE_VALUE_RANGE = re.compile(r"(?<![\w-])(\w+)-\1(?:/\d+)?(?![\w/-])", re.IGNORECASE)


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


def validate_timezone(name: str) -> ZoneInfo:
    if not name or name != name.strip():
        raise ScheduleError("timezone", f"Unknown timezone {name!r}; use an IANA name such as Europe/Berlin.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError("timezone", f"Unknown timezone {name!r}; use an IANA name such as Europe/Berlin.") from exc


def validate_cron(expression: str) -> str:
    expression = " ".join((expression or "").split())
    fields = expression.split(" ") if expression else []
    if len(fields) != 5:
        raise ScheduleError(
            "expression",
            f"Cron expression {expression!r} must have 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}.",
        )
    if not croniter.is_valid(expression):
        raise ScheduleError("expression", f"Invalid cron expression {expression!r}.")
    expression = " ".join(_ONE_VALUE_RANGE.sub(r"\1", field) for field in fields)
    try:
        # "0 0 30 2 *" is valid syntax but no date matches it: refuse it here, not at the first tick.
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)  # noqa: DTZ001 - a naive wall time
    except CroniterBadDateError as exc:
        raise ScheduleError("expression", f"Cron expression {expression!r} matches no date.") from exc
    return expression


def validate(schedule: Schedule) -> Schedule:
    """Check a schedule and return it normalised; raises ScheduleError with a clear message."""
    if schedule.kind == CRON:
        expression = validate_cron(schedule.expression)
        validate_timezone(schedule.timezone)
        return Schedule(CRON, expression, schedule.timezone, anchor=schedule.anchor)
    if schedule.kind == INTERVAL:
        seconds = schedule.interval_seconds
        if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, int):
            raise ScheduleError("seconds", "An interval schedule needs a whole number of seconds.")
        if seconds < 1:
            raise ScheduleError("seconds", f"The interval must be at least 1 second, got {seconds}.")
        return Schedule(INTERVAL, interval_seconds=seconds, run_at=schedule.run_at, anchor=schedule.anchor)
    if schedule.kind == ONCE:
        if schedule.run_at is None:
            raise ScheduleError("at", "A one-off schedule needs a date and time to run at.")
        if schedule.run_at.tzinfo is None:
            raise ScheduleError("at", "The run-at time must include a UTC offset or 'Z'.")
        return Schedule(ONCE, run_at=schedule.run_at.astimezone(UTC), anchor=schedule.anchor)
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
    candidates = croniter(expression, wall_after)
    for _ in range(_MAX_SKIPPED_CANDIDATES):
        instant = _resolve_wall_time(candidates.get_next(datetime), tz)
        if instant > after:
            return instant
    raise ScheduleError("expression", f"No fire time found for {expression!r} after {after.isoformat()}.")


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
    if schedule.kind == CRON:
        return _next_cron(schedule.expression, ZoneInfo(schedule.timezone), after)
    if schedule.kind == INTERVAL:
        anchor = schedule.run_at or schedule.anchor or after
        return _next_interval(int(schedule.interval_seconds or 0), anchor, after)
    if schedule.kind == ONCE:
        run_at = schedule.run_at
        return run_at.astimezone(UTC) if run_at and run_at > after else None
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
    return ExpressionDescriptor(expression, options).get_description()


def describe(schedule: Schedule) -> str:
    """A human-readable description, e.g. "At 02:30 AM (Europe/Berlin)"."""
    if schedule.kind == CRON:
        return f"{_cron_text(schedule.expression)} ({schedule.timezone})"
    if schedule.kind == INTERVAL:
        seconds = int(schedule.interval_seconds or 0)
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                count = seconds // size
                return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
        return "Every second" if seconds == 1 else f"Every {seconds} seconds"
    if schedule.kind == ONCE and schedule.run_at:
        return f"Once at {schedule.run_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    return "Never"


def common_timezones() -> list[str]:
    return sorted(available_timezones())
