"""Clean text: NUL characters and lone UTF-16 surrogates are refused on every input surface.

A lone surrogate (U+D800–U+DFFF outside a pair, e.g. JSON's "\\ud800") is not Unicode text:
UTF-8 cannot encode it, so a stored one made every page that rendered it fail. PostgreSQL's
text and jsonb cannot hold NUL either. The API's parsers and query check, the dashboard's forms
and the management commands all call `unclean_paths`; `repaired` mends rows stored before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

_UNCLEAN_RE = re.compile("[\x00\ud800-\udfff]")


def unclean_reason(text: str) -> str | None:
    """What is wrong with `text` (its first NUL or lone surrogate), or None if it is clean."""
    match = _UNCLEAN_RE.search(text)
    if match is None:
        return None
    code = ord(match.group())
    if code == 0:
        return "holds a NUL character (U+0000)"
    return f"holds a lone UTF-16 surrogate (U+{code:04X}), which is not valid Unicode text"


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any, bool]]:
    """(path, text, is_a_name) for every string in a JSON-like value, without recursion (any depth)."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item, False
        elif isinstance(item, Mapping):
            for key, child in reversed(list(item.items())):
                name = str(key)
                if unclean_reason(name):
                    yield where, name, True
                    continue
                stack.append((f"{where}.{name}" if where else name, child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}[{index}]", child) for index, child in reversed(list(enumerate(item))))


def unclean_paths(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, message) for each NUL or lone surrogate in `value`, in names (keys) and values alike."""
    found = []
    for where, text, is_name in _walk(value, path):
        reason = unclean_reason(text)
        if reason is None:
            continue
        subject = f"The name {ascii(text)}" if is_name else "The text"
        found.append((where, f"{subject} {reason}."))
    return found


def check_clean(value: Any, path: str) -> None:
    """Raise a ValidationError keyed by location for every NUL or lone surrogate in `value`."""
    errors: dict[str, list[str]] = {}
    for where, message in unclean_paths(value, path):
        errors.setdefault(where or path, []).append(message)
    if errors:
        raise ValidationError(errors)


def repaired(value: Any) -> Any:
    """`value` with lone surrogates replaced by U+FFFD and NUL characters removed, in keys and values."""
    if isinstance(value, str):
        return _UNCLEAN_RE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, Mapping):
        return {repaired(str(key)): repaired(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [repaired(item) for item in value]
    return value


class CleanTextMixin:
    """For forms: any cleaned value (JSON fields included) holding a NUL or lone surrogate is a field error."""

    fields: dict[str, forms.Field]

    def clean(self) -> dict[str, Any]:
        data = super().clean()  # type: ignore[misc]  # a mixin for forms: the form class it is mixed into has clean()
        for name, value in list((data or {}).items()):
            for _, message in unclean_paths(value):
                self.add_error(name if name in self.fields else None, message)  # type: ignore[attr-defined]  # a mixin for forms: the form class it is mixed into has add_error()
        return data


class CleanJSONField(forms.JSONField):
    """A form's JSON field that can show a refused value again: Django's dumps it with ensure_ascii=False,
    which turns an escaped lone surrogate back into one that no page can encode."""

    def prepare_value(self, value: Any) -> Any:
        shown = super().prepare_value(value)
        if isinstance(shown, str) and unclean_reason(shown) and not isinstance(value, forms.fields.InvalidJSONInput):
            return json.dumps(value, ensure_ascii=True, cls=self.encoder)
        return shown
