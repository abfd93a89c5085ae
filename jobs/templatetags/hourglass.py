"""Template helpers for the dashboard: durations, step progress, UTC <time> values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from history import paths
from history.models import Run, RunStep
from jobs.dashboard.charts import format_ms

register = template.Library()

FINISHED_STEPS = frozenset({RunStep.Status.DONE, RunStep.Status.ERROR, RunStep.Status.SKIPPED, RunStep.Status.CANCELED})


@register.filter
def ms(value: int | float | None) -> str:
    return format_ms(value)


@register.filter
def run_url(run_id: Any) -> str:
    """The run's dashboard page: `{{ run.pk|run_url }}`, the same as {% url 'history:run-detail' %} but cheaper."""
    return paths.run_url(run_id)


@register.filter
def progress(run: Run) -> dict[str, int]:
    """Steps finished / total, from the prefetched steps (no query per row)."""
    steps = list(run.steps.all())
    done = sum(1 for step in steps if step.status in FINISHED_STEPS)
    total = len(steps)
    return {"done": done, "total": total, "percent": round(100 * done / total) if total else 0}


@register.simple_tag
def when(value: datetime | None, style: str = "datetime") -> str:
    """<time> in UTC; static/js/app.js rewrites it in the viewer's zone and keeps UTC in the tooltip."""
    if value is None:
        return mark_safe('<span class="muted">–</span>')  # a constant
    utc = value.astimezone(UTC)
    shown = utc.strftime("%H:%M:%S") if style == "time" else utc.strftime("%Y-%m-%d %H:%M:%S")
    return format_html(
        '<time datetime="{}" data-format="{}" title="{} UTC">{} UTC</time>',
        utc.isoformat(),
        style,
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        shown,
    )


@register.filter
def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def as_json(value: Any) -> str:
    """A value as JSON (the audit log's details), not as a Python repr; escaped by the template."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
