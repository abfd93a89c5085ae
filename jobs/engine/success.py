"""The job's success rule: accepted statuses, optional body match and latency bound.

The body pattern runs on RE2 (google-re2), which matches in time linear in the body: a pattern
such as `(a+)+z`, which backtracks for hours in Python's `re`, cannot hold a worker process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import re2

DEFAULT_STATUSES = "200-299"
# Body checks look at this much of the body; the executor reads no further than this.
MATCH_CAP_BYTES = 16 * 1024

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported to whoever typed it, not logged to stderr


class BodyPattern(Protocol):
    pattern: str

    def search(self, text: str) -> object | None: ...


def compile_body_regex(pattern: str) -> BodyPattern:
    """The pattern compiled by RE2; ValueError, saying why, for one RE2 cannot run (look-arounds,
    back-references, a repetition over 1000, a program larger than RE2's memory budget)."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        raise ValueError(
            f"Not a pattern RE2 can run ({reason}). RE2 matches in linear time, so look-arounds and "
            "back-references are not supported."
        ) from exc


def parse_statuses(text: str) -> tuple[tuple[int, int], ...]:
    """ "200-299,304" -> ((200, 299), (304, 304)); raises ValueError on anything else."""
    ranges: list[tuple[int, int]] = []
    for token in (text or DEFAULT_STATUSES).split(","):
        token = token.strip()
        if not token:
            continue
        low_text, _, high_text = token.partition("-")
        try:
            low, high = int(low_text), int(high_text or low_text)
        except ValueError as exc:
            raise ValueError(f"{token!r} is not a status or a range such as 200-299") from exc
        if not 100 <= low <= high <= 599:
            raise ValueError(f"{token!r} is not a range of HTTP statuses (100-599)")
        ranges.append((low, high))
    if not ranges:
        raise ValueError("give at least one status or range")
    return tuple(ranges)


@dataclass(frozen=True)
class SuccessRule:
    statuses: tuple[tuple[int, int], ...] = ((200, 299),)
    body_contains: str = ""
    body_regex: BodyPattern | None = None
    max_latency_ms: int | None = None
    # Set when the job's rule cannot be used; every request then fails with this message.
    invalid: str = ""

    @classmethod
    def build(cls, *, statuses: str, body_contains: str, body_regex: str, max_latency_ms: int | None) -> SuccessRule:
        try:
            ranges = parse_statuses(statuses)
            pattern = compile_body_regex(body_regex) if body_regex else None
        except ValueError as exc:
            return cls(invalid=f"Invalid success rule: {exc}")
        return cls(ranges, body_contains, pattern, max_latency_ms)

    def status_ok(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.statuses)

    def failure(self, status: int, body: str, latency_ms: int) -> str | None:
        """None when the response meets the rule, else the error to record."""
        if self.invalid:
            return self.invalid
        if not self.status_ok(status):
            return f"HTTP {status}"
        if self.body_contains and self.body_contains not in body:
            return f"Body does not contain {self.body_contains!r}"
        if self.body_regex is not None and not self.body_regex.search(body):
            return f"Body does not match /{self.body_regex.pattern}/"
        if self.max_latency_ms is not None and latency_ms > self.max_latency_ms:
            return f"Too slow: {latency_ms} ms > {self.max_latency_ms} ms"
        return None


STATUS_ONLY_2XX = SuccessRule()
