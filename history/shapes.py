"""A response shape written once: each field's name, its OpenAPI description and how a row gives its value.

`Shape.render(row)` builds the item (fields in declaration order, so the output keeps its byte
order) and `Shape.serializer` is the schema-only DRF serializer drf-spectacular describes, named
`<component>Serializer` as the hand-written ones were, so the schema's components keep their names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers

Row = dict[str, Any]


@dataclass(frozen=True)
class Field:
    name: str
    schema: serializers.Field
    value: Callable[[Row], Any]


class Shape:
    def __init__(self, component: str, fields: Iterable[Field], *, omit: tuple[Any, ...] = ()) -> None:
        """`omit`: values left out of the item (peers whose Go structs say omitempty)."""
        self.fields = tuple(fields)
        self.omit = omit
        self._getters = tuple((field.name, field.value) for field in self.fields)
        declared = {field.name: field.schema for field in self.fields}
        self.serializer: type[serializers.Serializer] = type(
            f"{component}Serializer", (serializers.Serializer,), {**declared, "__module__": __name__}
        )

    def render(self, row: Row) -> dict[str, Any]:
        item = {name: value(row) for name, value in self._getters}
        if self.omit:
            return {name: value for name, value in item.items() if value not in self.omit}
        return item


def column(name: str) -> Callable[[Row], Any]:
    """A row's column as it is."""
    return lambda row: row[name]
