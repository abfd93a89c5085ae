"""The manifest's JSON Schema, derived from the API's own request shapes (drf-spectacular's components), so the
two never disagree: a job is the API's JobRequest less naturalId (the key) and team, and a header value may be
{secretFrom: env:NAME | stored}. Served at /api/manifest/schema and kept in docs/manifest.schema.json."""

from __future__ import annotations

import functools
from typing import Any

from drf_spectacular.generators import SchemaGenerator

from jobs.manifest.document import VERSION
from jobs.models import NATURAL_ID_RE

SCHEMA_ID = "https://hourglass.example/manifest.schema.json"
_PREFIX = "#/components/schemas/"
_SECRET_FROM = {
    "type": "object",
    "description": "A secret header's value, never written in the file: env:NAME is read from the environment of"
    " whoever plans or applies (the hourglass client sends it); stored keeps the value Hourglass holds.",
    "properties": {"secretFrom": {"type": "string", "pattern": "^(env:[A-Za-z_][A-Za-z0-9_]*|stored)$"}},
    "required": ["secretFrom"],
    "additionalProperties": False,
}


def _convert(node: Any, refs: set[str]) -> Any:
    """OpenAPI 3.0 → JSON Schema 2020-12: local $refs, `nullable`, no `writeOnly`; headers take secretFrom."""
    if isinstance(node, list):
        return [_convert(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_PREFIX):
            refs.add(value.removeprefix(_PREFIX))
            out[key] = "#/$defs/" + value.removeprefix(_PREFIX)
        elif key in ("writeOnly", "readOnly", "nullable"):
            continue
        else:
            out[key] = _convert(value, refs)
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def manifest_schema() -> dict[str, Any]:
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    job = dict(components["JobRequest"])
    job["properties"] = {k: v for k, v in job["properties"].items() if k not in ("naturalId", "team")}
    job["required"] = [name for name in job.get("required", []) if name not in ("naturalId", "team")]
    refs: set[str] = set()
    defs = {"Job": _convert(job, refs)}
    while missing := sorted(refs - set(defs)):
        for name in missing:
            defs[name] = _convert(components[name], refs)
    for name in ("RequestRequest", "StepConfigRequest"):
        headers = defs[name]["properties"]["headers"]
        headers["additionalProperties"] = {"oneOf": [headers["additionalProperties"], {"$ref": "#/$defs/SecretFrom"}]}
    defs["SecretFrom"] = _SECRET_FROM
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Hourglass jobs manifest",
        "description": "A team's jobs, keyed by natural ID (docs/manifest.md).",
        "type": "object",
        "properties": {
            "version": {"const": VERSION},
            "jobs": {
                "type": "object",
                "propertyNames": {"pattern": NATURAL_ID_RE, "maxLength": 100},
                "additionalProperties": {"$ref": "#/$defs/Job"},
            },
        },
        "required": ["version", "jobs"],
        "additionalProperties": False,
        "$defs": dict(sorted(defs.items())),
    }
