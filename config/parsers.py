"""JSON request bodies that cannot overflow: every number finite, nesting bounded.

Python's json reads `1e400` as infinity, which no JSON renderer can write back (so the 400 that
echoes it became a 500), and recurses once per level, so a body nested 10,000 levels deep raised
RecursionError (a 500). Both are now a 400 naming the problem, through DRF's ParseError.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Far deeper than any Hourglass document (a job with steps and headers is 4 levels deep).
MAX_DEPTH = 32


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 32 else text[:32] + "…"
        raise ValueError(f"number {shown} is out of range")
    return value


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _depth_exceeded(value: Any) -> bool:
    """Whether containers nest deeper than MAX_DEPTH; iterative, so it never recurses itself."""
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads_strict(text: str | bytes) -> Any:
    """json.loads for untrusted text: ValueError for non-finite numbers, NaN/Infinity and deep nesting."""
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_not_a_number)
    except RecursionError as exc:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from exc
    if _depth_exceeded(value):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return value


class StrictJSONDecoder(json.JSONDecoder):
    """For Django form fields (forms.JSONField(decoder=…)): the same rules as the API's parser."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return loads_strict(s)
        except ValueError as exc:
            raise json.JSONDecodeError(str(exc), s, 0) from exc


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser with finite numbers and bounded nesting."""

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return loads_strict(stream.read().decode(encoding))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
