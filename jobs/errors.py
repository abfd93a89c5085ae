"""Field-keyed validation messages gathered over a whole write, so every error is reported at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError

T = TypeVar("T")


class Errors:
    """Messages by field path; `check` runs one rule and keeps its error instead of stopping."""

    def __init__(self) -> None:
        self.messages: dict[str, list[str]] = {}

    def __bool__(self) -> bool:
        return bool(self.messages)

    def __contains__(self, path: str) -> bool:
        return path in self.messages

    def add(self, path: str, message: str) -> None:
        self.messages.setdefault(path, []).append(message)

    def merge(self, exc: ValidationError, path: str = "") -> None:
        """An error raised by a rule: keyed ones by their own keys, plain ones at `path`."""
        if hasattr(exc, "error_dict"):
            for key, messages in exc.message_dict.items():
                for message in messages:
                    self.add(key, message)
        else:
            for message in exc.messages:
                self.add(path, message)

    def check(self, path: str, rule: Callable[..., T], *args: Any) -> T | None:
        try:
            return rule(*args)
        except ValidationError as exc:
            self.merge(exc, path)
            return None

    def raise_any(self) -> None:
        if self.messages:
            raise ValidationError(dict(self.messages))
