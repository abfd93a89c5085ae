"""JSON rendered by orjson where the answers are large and frequent (history pages), byte for byte DRF's.

DRF's JSONRenderer (compact, UTF-8, U+2028/U+2029 escaped) takes about 0.5 ms for a 30-run
history page here; orjson about 0.1 ms for the same bytes. What orjson would write differently
goes to DRF's encoder instead: datetimes (passed through), anything it cannot encode (lazy
strings, Decimals: the `default` hook), and the whole answer when it is indented (`; indent=`),
holds an int beyond 64 bits, or a float that Python writes with an exponent (orjson writes
1e16 where Python writes 1e+16; such a float is only ever in a run's own data or variables).
Without orjson installed it is DRF's renderer.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.utils import encoders

try:
    import orjson
except ImportError:  # pragma: no cover - requirements.txt pins it; a bare checkout still works
    orjson = None  # type: ignore[assignment]  # mypy cannot type an import that may be None

_DRF_DEFAULT = encoders.JSONEncoder().default
# A number with an exponent as orjson writes it, after what can precede a value. Text inside a
# string can look the same; then DRF renders the answer, which is always right, only slower.
_EXPONENT = re.compile(rb"[:,\[]-?[0-9]+(?:\.[0-9]+)?e-?[0-9]")
_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME) if orjson else 0


class FastJSONRenderer(JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if (
            orjson is None
            or data is None
            or self.get_indent(accepted_media_type or "", renderer_context or {}) is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            rendered = orjson.dumps(data, default=_DRF_DEFAULT, option=_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            return super().render(data, accepted_media_type, renderer_context)
        if _EXPONENT.search(rendered):
            return super().render(data, accepted_media_type, renderer_context)
        # As DRF does: JSON that is also a strict JavaScript subset.
        return rendered.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")


# For views whose answers are large and the most requested (history pages, the dialects).
FAST_RENDERERS = [FastJSONRenderer, BrowsableAPIRenderer]
