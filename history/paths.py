"""Run page URLs without a reverse() per run: a run table or a duration chart links up to a hundred runs.

The route is reversed once per name (and script prefix) with a placeholder id, then formatted.
"""

from __future__ import annotations

import functools
import uuid

from django.urls import get_script_prefix, reverse

_PLACEHOLDER = str(uuid.UUID(int=0))


@functools.lru_cache(maxsize=32)
def _pattern(name: str, script_prefix: str) -> str:
    return reverse(f"history:{name}", kwargs={"run_id": _PLACEHOLDER})


def run_url(run_id: uuid.UUID | str, name: str = "run-detail") -> str:
    """reverse("history:<name>", run_id=run_id), for a route that takes only the run's id."""
    return _pattern(name, get_script_prefix()).replace(_PLACEHOLDER, str(uuid.UUID(str(run_id))))
