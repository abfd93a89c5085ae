"""The write service's rules for a job's anomaly thresholds (jobs.engine.anomaly)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError

from jobs.engine import anomaly
from jobs.errors import Errors
from jobs.text import unclean_paths

MAX_WINDOW = anomaly.MAX_WINDOW
JSON_FIELD_MAX = 200


def number_rule(
    low: float, high: float, *, null: bool = False, off_or_above: float | None = None
) -> Callable[[Any], Any]:
    """A number from low to high; with `off_or_above`, 0 (the check is off) or more than that."""

    def rule(value: Any) -> float | None:
        if value is None and null:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValidationError("Must be a number.")
        if not low <= value <= high:
            raise ValidationError(f"Must be {low:g}–{high:g}, not {value:g}.")
        if off_or_above is not None and value != 0 and value <= off_or_above:
            raise ValidationError(f"Give 0 (off) or more than {off_or_above:g}, not {value:g}.")
        return float(value)

    return rule


def json_field_rule(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("Must be text.")
    if len(value) > JSON_FIELD_MAX:
        raise ValidationError(f"At most {JSON_FIELD_MAX} characters, not {len(value)}.")
    if unclean_paths(value):
        raise ValidationError("Null characters and lone surrogates are not allowed.")
    text = value
    try:
        anomaly.parse_json_field(text)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    return text


def check_anomaly(clean: dict[str, Any], values: dict[str, Any], errors: Errors) -> None:
    """The minimum sample must fit in the window (either may be the default)."""
    paths = ("anomaly_window", "anomaly_min_samples")
    if not any(path in clean for path in paths) or any(path in errors for path in paths):
        return
    base = anomaly.defaults()
    window = values["anomaly_window"] if values["anomaly_window"] is not None else base["window"]
    least = values["anomaly_min_samples"] if values["anomaly_min_samples"] is not None else base["min_samples"]
    if least > window:
        errors.add("anomaly_min_samples", f"At most the window ({window} runs), not {least}.")
