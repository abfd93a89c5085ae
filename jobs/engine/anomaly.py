"""Anomaly warnings: a run that succeeded but does not look like the job's recent successful runs.

Three checks, each against what the job's last `window` successful runs looked like
(history.models.RunBaseline, kept by jobs.engine.baselines where results are written):
- duration: outside median ± k·MAD of their durations (at least DURATION_FLOOR_MS either side, so a
  job whose runs all take 12 ms does not warn at 14 ms), once there are `min_samples` of them;
- size: the response body more than `size_factor` times larger, or smaller, than their median size
  (and at least SIZE_FLOOR_BYTES away from it), once there are `min_samples`;
- json_type: the JSON field the job names (a JSON pointer, `/data/items`, or a dotted path,
  `data.items`) has another type than in the previous successful run: object, array, string,
  number, boolean, null, missing (not there) or invalid (the body is not JSON, or is longer than
  the 16 KB read for the success rule).

A check is off when its threshold is 0 (duration, size) or empty (the JSON field). A job's null
threshold takes the HOURGLASS_ANOMALY_* default.

Other code hears of warnings through `connect`: see `emit` for the contract.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

DURATION = "duration"
SIZE = "size"
JSON_TYPE = "json_type"
STEP = "step"  # a step other than the main request failed (the run still succeeded)
# JSON types as named in messages and stored on the baseline.
MISSING, INVALID = "missing", "invalid"
MAX_WINDOW = 500


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def parse_json_field(text: str) -> tuple[str, ...]:
    """A JSON pointer (RFC 6901: `/a/0/b`, `~1` for '/', `~0` for '~') or a dotted path (`a.0.b`)
    as its segments; raises ValueError with what is wrong. "" names no field."""
    if not text:
        return ()
    if any(ord(char) < 32 for char in text):
        raise ValueError("No control characters.")
    if text.startswith("/"):
        segments = text[1:].split("/")
        for segment in segments:
            rest = segment.replace("~0", "").replace("~1", "")
            if "~" in rest:
                raise ValueError("In a JSON pointer '~' is written ~0 and '/' ~1.")
        return tuple(segment.replace("~1", "/").replace("~0", "~") for segment in segments)
    segments = text.split(".")
    if any(not segment for segment in segments):
        raise ValueError("A dotted path has no empty parts: write data.items, or a JSON pointer such as /data/items.")
    return tuple(segments)


def type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null"


def json_type_at(body: str, path: tuple[str, ...]) -> str:
    """The type of the value at `path` in the JSON `body`."""
    try:
        node = json.loads(body)
    except ValueError:
        return INVALID
    for segment in path:
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and (segment == "0" or segment[0] != "0"):
            index = int(segment)
            if index >= len(node):
                return MISSING
            node = node[index]
        else:
            return MISSING
    return type_name(node)


@dataclass(frozen=True)
class AnomalyRule:
    """A job's thresholds with the defaults filled in: what is in force."""

    window: int
    min_samples: int
    duration_k: float
    size_factor: float
    json_field: str = ""
    json_path: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.duration_k > 0 or self.size_factor > 0 or bool(self.json_path)


def defaults() -> dict[str, Any]:
    return {
        "window": int(_setting("HOURGLASS_ANOMALY_WINDOW", 30)),
        "min_samples": int(_setting("HOURGLASS_ANOMALY_MIN_SAMPLES", 10)),
        "duration_k": _setting("HOURGLASS_ANOMALY_DURATION_K", 5.0),
        "size_factor": _setting("HOURGLASS_ANOMALY_SIZE_FACTOR", 4.0),
    }


def rule_of(
    *,
    window: int | None,
    min_samples: int | None,
    duration_k: float | None,
    size_factor: float | None,
    json_field: str = "",
) -> AnomalyRule:
    """The rule in force for a job's stored thresholds (None: the default)."""
    base = defaults()
    resolved_window = min(MAX_WINDOW, max(1, window if window is not None else base["window"]))
    resolved_min = min_samples if min_samples is not None else base["min_samples"]
    try:
        path = parse_json_field(json_field or "")
    except ValueError:
        path = ()  # the write service refuses it; an older row just checks nothing
    return AnomalyRule(
        window=resolved_window,
        min_samples=max(1, min(resolved_min, resolved_window)),
        duration_k=base["duration_k"] if duration_k is None else duration_k,
        size_factor=base["size_factor"] if size_factor is None else size_factor,
        json_field=json_field if path else "",
        json_path=path,
    )


def rule_for_job(job: Any) -> AnomalyRule:
    return rule_of(
        window=job.anomaly_window,
        min_samples=job.anomaly_min_samples,
        duration_k=job.anomaly_duration_k,
        size_factor=job.anomaly_size_factor,
        json_field=job.anomaly_json_field,
    )


@dataclass(frozen=True)
class Band:
    median: float
    mad: float
    low: float
    high: float
    samples: int


def duration_band(durations: Sequence[int], k: float) -> Band:
    """median ± max(k·MAD, the floor), the low end not below 0."""
    median = statistics.median(durations)
    mad = statistics.median(abs(value - median) for value in durations)
    half = max(k * mad, _setting("HOURGLASS_ANOMALY_DURATION_FLOOR_MS", 100))
    return Band(median, mad, max(0.0, median - half), median + half, len(durations))


@dataclass
class Baseline:
    """A job's learned history (the RunBaseline row's values), updated in place as runs are learned."""

    durations_ms: list[int] = field(default_factory=list)
    response_bytes: list[int] = field(default_factory=list)
    json_field: str = ""
    json_type: str = ""


@dataclass(frozen=True)
class Finding:
    kind: str
    message: str


def _ms(value: float) -> str:
    return f"{round(value):,} ms"


def assess(
    rule: AnomalyRule, baseline: Baseline, duration_ms: int | None, size: int | None, json_type: str | None
) -> list[Finding]:
    """What is unlike the baseline about one successful run (nothing below the minimum sample)."""
    found: list[Finding] = []
    durations = baseline.durations_ms[-rule.window :]
    if rule.duration_k > 0 and duration_ms is not None and durations and len(durations) >= rule.min_samples:
        band = duration_band(durations, rule.duration_k)
        if not band.low <= duration_ms <= band.high:
            found.append(
                Finding(
                    DURATION,
                    f"Took {_ms(duration_ms)}, outside {_ms(band.low)}–{_ms(band.high)}: the median"
                    f" {_ms(band.median)} ± {rule.duration_k:g}·MAD ({_ms(band.mad)}) of the last"
                    f" {band.samples} successful runs.",
                )
            )
    sizes = baseline.response_bytes[-rule.window :]
    if rule.size_factor > 0 and size is not None and sizes and len(sizes) >= rule.min_samples:
        median = statistics.median(sizes)
        ratio = max(size, median) / max(min(size, median), 1)
        if ratio > rule.size_factor and abs(size - median) >= _setting("HOURGLASS_ANOMALY_SIZE_FLOOR_BYTES", 64):
            direction = "larger" if size > median else "smaller"
            found.append(
                Finding(
                    SIZE,
                    f"Response of {size:,} bytes: {ratio:.1f}× {direction} than the median {round(median):,} bytes"
                    f" of the last {len(sizes)} successful runs (the limit is {rule.size_factor:g}×).",
                )
            )
    previous = baseline.json_type if baseline.json_field == rule.json_field else ""
    if rule.json_path and json_type is not None and previous and json_type != previous:
        found.append(
            Finding(JSON_TYPE, f"{rule.json_field} is {json_type}; in the previous successful run it was {previous}.")
        )
    return found


def learn(
    rule: AnomalyRule, baseline: Baseline, duration_ms: int | None, size: int | None, json_type: str | None
) -> None:
    """Add one successful run to the baseline, keeping the newest `window` of each."""
    if duration_ms is not None:
        baseline.durations_ms.append(duration_ms)
        del baseline.durations_ms[: -rule.window]
    if size is not None:
        baseline.response_bytes.append(size)
        del baseline.response_bytes[: -rule.window]
    if baseline.json_field != rule.json_field:
        baseline.json_field, baseline.json_type = rule.json_field, ""
    if rule.json_path and json_type is not None:
        baseline.json_type = json_type


# --- telling other code -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunWarning:
    """One run that ended `success` with a warning, as written."""

    run_id: str
    job_id: str
    team_id: int
    kind: str  # the first finding's: step, duration, size or json_type
    message: str  # every finding's message, in order
    findings: tuple[Finding, ...]
    finished_at: datetime


WarningHook = Callable[[Sequence[RunWarning]], None]
WARNING_HOOKS: list[WarningHook] = []


def connect(hook: WarningHook) -> WarningHook:
    """Call `hook` with the warnings of every result batch that has some (usable as a decorator)."""
    if hook not in WARNING_HOOKS:
        WARNING_HOOKS.append(hook)
    return hook


def disconnect(hook: WarningHook) -> None:
    if hook in WARNING_HOOKS:
        WARNING_HOOKS.remove(hook)


def emit(warnings: Sequence[RunWarning]) -> None:
    """Hand a written batch's warnings to every connected hook.

    Called once the batch's transaction has committed (so the runs can be read), on the thread that
    wrote it: the engine's writer thread, which has a database connection of its own. A hook must
    return quickly (enqueue a task, insert a row), since the engine's next results wait for it. An
    exception in one hook is logged and the others still run; it never undoes the write.
    """
    if not warnings:
        return
    for hook in list(WARNING_HOOKS):
        try:
            hook(warnings)
        except Exception:
            logger.exception("a warning hook failed for %d warnings", len(warnings))
