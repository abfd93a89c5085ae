"""The history endpoints' JSON renderer writes exactly the bytes DRF's JSONRenderer writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from config.renderers import FastJSONRenderer

pytest.importorskip("orjson")

PAYLOADS = [
    {"plain": "ascii", "n": 3, "neg": -7, "t": True, "f": False, "none": None, "list": [1, "a", [], {}]},
    {
        "unicode": "Grüße, 東京, 🙂",
        "separators": "line\u2028paragraph\u2029end",
        "controls": "\x00\x01\x1f\t\n\r\b\f\x7f",
    },
    {"quotes": 'say "hi" \\ back/slash', "html": "<script>&</script>"},
    {"floats": [0.1, 1.5, -0.0, 1.0, 0.8, 123456.789, 1e16, 1e-5, 2.5e300], "big": 2**70},
    {"when": datetime(2026, 12, 1, 11, 0, 0, 123456, tzinfo=UTC), "id": uuid.UUID(int=42), "cost": Decimal("1.10")},
    {"lazy": gettext_lazy("Not found."), 1: "int key", "nested": {"deep": [{"x": [None, {"y": "z"}]}]}},
    {"text looking like numbers": '{"a":1e5,"b":[2e-3]}', "uuid-ish": "2e4f0c1e-9a3e-4e5e-8e9e-0e1e2e3e4e5e"},
    [],
    "a bare string",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_it_renders_what_drf_renders(payload):
    assert FastJSONRenderer().render(payload) == JSONRenderer().render(payload)


def test_it_indents_as_drf_does_when_asked():
    payload = {"a": [1, 2]}
    media = "application/json; indent=4"
    assert FastJSONRenderer().render(payload, media, {}) == JSONRenderer().render(payload, media, {})
