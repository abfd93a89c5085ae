"""Calendar rules: what a calendar holds, checked; whether an instant lies inside it; what it does to a job's slots.

A calendar holds any of:
- public holidays of a country, optionally a subdivision (the maintained `holidays` package);
- dates and inclusive ranges of dates ("2026-12-24", "2026-12-27/2026-12-31");
- weekly windows ("Sun 02:00-04:00 Europe/Berlin"): the days a window starts on, its start and end as wall times
  (an end at or before the start runs past midnight into the next day), and the zone it is read in.

Days (holidays and dates) are read on the job's clock: a slot at 23:30 in New York on 24 December is not
Christmas, though it is the 25th in UTC. A window is read on its own zone's clock (the job's when it names none),
so it keeps its wall times across DST changes.

A job attaches calendars with a mode: `exclude` removes the slots inside the calendar, `only` removes those
outside it. Every attachment applies; a slot removed by one is recorded as skipped with the reason
`calendar:<name>` of the first attachment (in the job's order) that removed it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_package

from jobs import schedules
from jobs.errors import Errors

EXCLUDE, ONLY = "exclude", "only"
MODES = (EXCLUDE, ONLY)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_INDEX = {name: index for names in (DAY_NAMES, _FULL_DAY_NAMES) for index, name in enumerate(names)}
MAX_HOLIDAY_SETS = 10
MAX_DATES = 1000
MAX_WINDOWS = 50
MAX_ATTACHED = 20
# How many slots ahead the preview looks for the first one a calendar leaves (bounded: each costs a schedule step).
FIRST_FIRING_LOOKAHEAD = 2000
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^(\d{2}):(\d{2})$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2,3}$")
# "Sun 02:00-04:00 Europe/Berlin", "Mon-Fri 22:00-06:00", "sat,sun 00:00-24:00 UTC" (an en dash works too).
_WINDOW_TEXT_RE = re.compile(
    r"^(?P<days>[A-Za-z,\-–]+)\s+(?P<start>\d{1,2}:\d{2})\s*[-–]\s*(?P<end>\d{1,2}:\d{2})(?:\s+(?P<zone>\S+))?$"
)


def reason_for(name: str) -> str:
    """The reason a skipped run records: `calendar:<name>`."""
    return f"calendar:{name}"


# --- checking what a calendar holds ------------------------------------------------------------


def _day(text: Any) -> date:
    if not isinstance(text, str) or not _DATE_RE.match(text):
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD).")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date of the calendar.") from None


def date_range(text: str) -> tuple[date, date]:
    """ "2026-12-24" → (that day, that day); "2026-12-27/2026-12-31" → the inclusive range."""
    first, sep, last = text.partition("/")
    start, end = _day(first), _day(last) if sep else _day(first)
    if end < start:
        raise ValueError(f"The range {text} ends before it starts.")
    return start, end


def _items(value: Any, errors: Errors, name: str, *, example: str, limit: int, what: str) -> list[Any]:
    """`value` as a list of at most `limit` items (each reported against `name`); [] if it is not a list."""
    if not isinstance(value, list):
        errors.add(name, f"Give a list, e.g. {example}.")
        return []
    if len(value) > limit:
        errors.add(name, f"At most {limit} {what}.")
    return value


def clean_holidays(value: Any, errors: Errors) -> list[dict[str, str]]:
    example = '[{"country": "US", "subdivision": "NY"}]'
    value = _items(value, errors, "holidays", example=example, limit=MAX_HOLIDAY_SETS, what="countries")
    cleaned = []
    for index, item in enumerate(value):
        at = f"holidays[{index}]"
        if not isinstance(item, dict) or set(item) - {"country", "subdivision"}:
            errors.add(at, 'Give {"country": "US"} and, optionally, "subdivision".')
            continue
        country = item.get("country")
        subdivision = item.get("subdivision") or ""
        if not isinstance(country, str) or not _COUNTRY_RE.match(country):
            errors.add(f"{at}.country", "Give an ISO 3166 country code in capitals, e.g. US or DE.")
            continue
        supported = holidays_package.list_supported_countries()
        if country not in supported:
            errors.add(f"{at}.country", f"No public holidays are known for {country!r}.")
            continue
        if not isinstance(subdivision, str) or (subdivision and subdivision not in supported[country]):
            known = ", ".join(supported[country][:40]) or "none"
            errors.add(f"{at}.subdivision", f"{country} has no subdivision {subdivision!r}; it has: {known}.")
            continue
        cleaned.append({"country": country, "subdivision": subdivision})
    return cleaned


def clean_dates(value: Any, errors: Errors) -> list[str]:
    example = '["2026-12-24", "2026-12-27/2026-12-31"]'
    value = _items(value, errors, "dates", example=example, limit=MAX_DATES, what="dates and ranges")
    cleaned = []
    for index, item in enumerate(value):
        try:
            if not isinstance(item, str):
                raise ValueError("Give a date (YYYY-MM-DD) or a range (YYYY-MM-DD/YYYY-MM-DD).")
            start, end = date_range(item.strip())
        except ValueError as exc:
            errors.add(f"dates[{index}]", str(exc))
            continue
        cleaned.append(start.isoformat() if start == end else f"{start.isoformat()}/{end.isoformat()}")
    return cleaned


def _minutes(text: Any, *, end: bool) -> int:
    match = _TIME_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a time (HH:MM).")
    hours, minutes = int(match[1]), int(match[2])
    total = hours * 60 + minutes
    if minutes > 59 or total > 24 * 60 or (total == 24 * 60 and not end):
        raise ValueError(f"{text!r} is not a time of day (00:00–23:59{', or 24:00 for an end' if end else ''}).")
    return total


def _days(value: Any) -> list[str]:
    """["mon-fri"], ["sat", "sun"] → the day names, in week order."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError('Give the days it starts on, e.g. ["sun"] or ["mon-fri"].')
    picked: set[int] = set()
    for item in value:
        text = str(item).strip().lower().replace("–", "-")
        first, sep, last = text.partition("-")
        if first not in _DAY_INDEX or (sep and last not in _DAY_INDEX):
            raise ValueError(f"{item!r} is not a day (mon, tue, wed, thu, fri, sat, sun) or a range of days.")
        low, high = _DAY_INDEX[first], _DAY_INDEX[last if sep else first]
        span = range(low, high + 1) if low <= high else [*range(low, 7), *range(0, high + 1)]
        picked.update(span)
    return [DAY_NAMES[index] for index in sorted(picked)]


def clean_windows(value: Any, errors: Errors) -> list[dict[str, Any]]:
    example = '[{"days": ["sun"], "start": "02:00", "end": "04:00"}]'
    value = _items(value, errors, "windows", example=example, limit=MAX_WINDOWS, what="windows")
    cleaned = []
    for index, item in enumerate(value):
        at = f"windows[{index}]"
        if not isinstance(item, dict) or set(item) - {"days", "start", "end", "timezone"}:
            errors.add(at, 'Give {"days": [...], "start": "HH:MM", "end": "HH:MM"} and, optionally, "timezone".')
            continue
        window: dict[str, Any] = {}
        for key, check in (
            ("days", lambda v: _days(v)),
            ("start", lambda v: _minutes(v, end=False)),
            ("end", lambda v: _minutes(v, end=True)),
        ):
            try:
                window[key] = check(item.get(key))
            except ValueError as exc:
                errors.add(f"{at}.{key}", str(exc))
        zone = item.get("timezone") or ""
        if zone:
            try:
                if not isinstance(zone, str):
                    raise schedules.ScheduleError("timezone", "Give an IANA zone name, e.g. Europe/Berlin.")
                schedules.validate_timezone(zone)
            except schedules.ScheduleError as exc:
                errors.add(f"{at}.timezone", exc.message)
                continue
        if len(window) == 3:
            if window["start"] == window["end"]:
                errors.add(f"{at}.end", "The window must not end where it starts.")
                continue
            cleaned.append({"days": window["days"], "start": item["start"], "end": item["end"], "timezone": zone})
    return cleaned


def clean_rules(value: dict[str, Any], errors: Errors) -> dict[str, Any]:
    """The rules of a calendar (any of holidays, dates, windows), checked, each error at its path."""
    return {
        "holidays": clean_holidays(value.get("holidays", []), errors),
        "dates": clean_dates(value.get("dates", []), errors),
        "windows": clean_windows(value.get("windows", []), errors),
    }


def parse_window_text(text: str) -> dict[str, Any]:
    """ "Sun 02:00-04:00 Europe/Berlin" → {"days": ["sun"], "start": "02:00", "end": "04:00", "timezone": ...}."""
    match = _WINDOW_TEXT_RE.match(text.strip())
    if match is None:
        raise ValueError(f"Write a window as 'Sun 02:00-04:00 Europe/Berlin' (got {text.strip()!r}).")

    def padded(clock: str) -> str:
        hours, _, minutes = clock.partition(":")
        return f"{int(hours):02d}:{minutes}"

    days = [part for part in match["days"].split(",") if part]
    return {"days": days, "start": padded(match["start"]), "end": padded(match["end"]), "timezone": match["zone"] or ""}


def window_text(window: dict[str, Any]) -> str:
    """A window as one line: "Sun 02:00–04:00 Europe/Berlin" (the job's zone when it names none)."""
    days = ",".join(day.title() for day in window["days"])
    zone = f" {window['timezone']}" if window.get("timezone") else ""
    return f"{days} {window['start']}–{window['end']}{zone}"


def summary(holidays: list[dict[str, str]], dates: list[str], windows: list[dict[str, Any]]) -> str:
    """What a calendar holds, in words."""
    parts = [
        "public holidays of " + (f"{item['country']}-{item['subdivision']}" if item["subdivision"] else item["country"])
        for item in holidays
    ]
    if dates:
        shown = ", ".join(text.replace("/", "…") for text in dates[:5])
        parts.append(shown + (f" and {len(dates) - 5} more" if len(dates) > 5 else ""))
    parts += [window_text(window) for window in windows]
    return "; ".join(parts) or "empty"


# --- evaluating ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _holiday_set(country: str, subdivision: str) -> holidays_package.HolidayBase:
    # Years are filled in as they are asked about (the package's `expand`), so one object serves every year.
    return holidays_package.country_holidays(country, subdiv=subdivision or None)


@dataclass(frozen=True)
class _Window:
    days: frozenset[int]
    start: int  # minutes after midnight
    end: int  # minutes after midnight, up to 1440; at or before start: ends the next day
    zone: str

    def contains(self, instant: datetime, job_zone: ZoneInfo) -> bool:
        local = instant.astimezone(ZoneInfo(self.zone) if self.zone else job_zone)
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        # Past midnight: the evening of a start day, or the morning after one.
        return (weekday in self.days and minute >= self.start) or ((weekday - 1) % 7 in self.days and minute < self.end)


@dataclass(frozen=True)
class Rules:
    """A calendar compiled for evaluation."""

    name: str
    holiday_sets: tuple[tuple[str, str], ...]
    ranges: tuple[tuple[date, date], ...]
    windows: tuple[_Window, ...]

    def contains(self, instant: datetime, job_zone: ZoneInfo) -> bool:
        day = instant.astimezone(job_zone).date()
        if any(day in _holiday_set(country, subdivision) for country, subdivision in self.holiday_sets):
            return True
        if any(start <= day <= end for start, end in self.ranges):
            return True
        return any(window.contains(instant, job_zone) for window in self.windows)

    def holiday_name(self, instant: datetime, job_zone: ZoneInfo) -> str:
        day = instant.astimezone(job_zone).date()
        for country, subdivision in self.holiday_sets:
            name = _holiday_set(country, subdivision).get(day)
            if name:
                return str(name)
        return ""


def compile_rules(calendar: Any) -> Rules:
    """A Calendar row (or anything with name, holidays, dates and windows) as Rules."""
    return Rules(
        name=calendar.name,
        holiday_sets=tuple((item["country"], item.get("subdivision") or "") for item in calendar.holidays or ()),
        ranges=tuple(date_range(text) for text in calendar.dates or ()),
        windows=tuple(
            _Window(
                days=frozenset(DAY_NAMES.index(day) for day in _days(window["days"])),
                start=_minutes(window["start"], end=False),
                end=_minutes(window["end"], end=True) % (24 * 60) or 24 * 60,
                zone=window.get("timezone") or "",
            )
            for window in calendar.windows or ()
        ),
    )


@dataclass(frozen=True)
class Attached:
    """One calendar as a job uses it."""

    rules: Rules
    mode: str


def attached_of(links: Sequence[Any]) -> list[Attached]:
    """JobCalendar rows (with their calendars loaded) as what removed_by reads."""
    return [Attached(compile_rules(link.calendar), link.mode) for link in links]


def removed_by(attached: Sequence[Attached], instant: datetime, job_zone: ZoneInfo) -> str:
    """`calendar:<name>` of the first attachment that removes this slot, or "" when the slot fires."""
    for item in attached:
        inside = item.rules.contains(instant, job_zone)
        if inside if item.mode == EXCLUDE else not inside:
            return reason_for(item.rules.name)
    return ""


def mark_slots(attached: Sequence[Attached], slots: Sequence[datetime], zone: str) -> list[tuple[datetime, str]]:
    """Each slot with the reason it is removed ("" for one that fires): the preview shows both."""
    job_zone = ZoneInfo(zone or "UTC")
    return [(slot, removed_by(attached, slot, job_zone)) for slot in slots]


def first_firing(
    attached: Sequence[Attached], schedule: schedules.Schedule, after: datetime, *, limit: int = FIRST_FIRING_LOOKAHEAD
) -> datetime | None:
    """The first slot after `after` that no calendar removes, looking at most `limit` slots ahead."""
    job_zone = ZoneInfo(schedule.timezone or "UTC")
    cursor = after
    for _ in range(limit):
        slot = schedules.next_fire(schedule, cursor)
        if slot is None:
            return None
        if not removed_by(attached, slot, job_zone):
            return slot
        cursor = slot
    return None
