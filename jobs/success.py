"""The job's success rule: accepted statuses, optional body match and latency bound."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_STATUSES = "200-299"
# Body checks look at this much of the body; the executor reads no further than this.
MATCH_CAP_BYTES = 16 * 1024


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
    body_regex: re.Pattern[str] | None = None
    max_latency_ms: int | None = None
    # Set when the job's rule cannot be used; every request then fails with this message.
    invalid: str = ""

    @classmethod
    def build(cls, *, statuses: str, body_contains: str, body_regex: str, max_latency_ms: int | None) -> SuccessRule:
        try:
            ranges = parse_statuses(statuses)
            pattern = re.compile(body_regex) if body_regex else None
        except (ValueError, re.error) as exc:
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
