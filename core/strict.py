"""Serializers that refuse what they do not know: a misspelt or unsupported field is a 400 naming it,
never silently dropped (a caller would believe it set)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

UNKNOWN = "Unknown field."
# Sent by the browsable API's HTML forms with every post; it is the CSRF check's, not the resource's.
_FORM_TOKENS = frozenset({"csrfmiddlewaretoken"})
READ_ONLY = "Read-only field; it cannot be set."


def unknown_fields(
    data: Any, fields: Mapping[str, serializers.Field], refused: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """{name: [message]} for each key of `data` that is not a writable field; `refused` says why for some."""
    if not isinstance(data, Mapping):
        return {}
    found = {}
    for name in data:
        if name in _FORM_TOKENS:
            continue
        field = fields.get(name)
        if field is None:
            found[str(name)] = [(refused or {}).get(name, UNKNOWN)]
        elif field.read_only:
            found[str(name)] = [READ_ONLY]
    return found


class StrictSerializer(serializers.Serializer):
    """Every unknown field is reported with the others, at every level (nested and listed serializers too)."""

    # Fields a subclass leaves out on purpose, with the reason a caller who sends one is told.
    refused_fields: Mapping[str, str] = {}

    def to_internal_value(self, data: Any) -> Any:
        unknown = unknown_fields(data, self.fields, self.refused_fields)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                exc.detail.update(
                    {name: [serializers.ErrorDetail(m, "unknown") for m in ms] for name, ms in unknown.items()}
                )
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


def _strict_classes(cls: type = StrictSerializer) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_strict_classes(sub)}
    return found


def refuse_additional_properties(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the request shapes of strict serializers say
    `additionalProperties: false`, as they answer 400 to any other field."""
    schemas = result.get("components", {}).get("schemas", {})
    inherited = inspect.cleandoc(StrictSerializer.__doc__ or "")
    for schema in schemas.values():  # a serializer without a docstring of its own is not described by this one's
        if schema.get("description") == inherited:
            del schema["description"]
    for cls in _strict_classes():
        name = cls.__name__.removesuffix("Serializer")
        for component in (f"{name}Request", f"Patched{name}Request"):
            if component in schemas and schemas[component].get("type") == "object":
                schemas[component]["additionalProperties"] = False
    return result


def refuse_fields(data: Any) -> None:
    """For a write that takes no body (pause, cancel, rerun…): any field sent is refused by name."""
    unknown = unknown_fields(data, {})
    if unknown:
        raise serializers.ValidationError(unknown)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class JsonObjectField(serializers.DictField):
    """Free-form JSON object; NUL characters are refused, as PostgreSQL's jsonb cannot store them."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        if _has_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        return value
