"""Dialect fixtures: the primary API's clients, keys and job, and the peers' schemas as JSON Schema validators."""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema

from tests.api_support import (  # noqa: F401 - the primary API's fixtures, shared rather than copied
    _fresh_throttles,
    api,
    as_key,
    as_user,
    job,
    make_key,
)

SPECS = Path(__file__).resolve().parents[4] / "shared" / "specs"
# The parts of the peer specs the dialects answer with, copied so the tests run where ../shared is
# absent; test_peer_schemas.py checks the copy against the specs when they are there.
PEER_SCHEMAS: dict[str, Any] = json.loads((Path(__file__).parent / "peer_schemas.json").read_text())

# jsonschema ships no date-time or uri checker without extra packages; these are the rules the specs mean.
FORMATS = jsonschema.FormatChecker(formats=["uuid"])


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or ("T" in value and datetime.fromisoformat(value).tzinfo is not None)


@FORMATS.checks("uuid4", raises=ValueError)
def _uuid4(value: object) -> bool:
    return not isinstance(value, str) or uuid.UUID(value).version == 4


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    """An absolute URI (RFC 3986): a scheme, then anything, e.g. about:blank or http://host/path."""
    return not isinstance(value, str) or (re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]*$", value) is not None)


def prunner_schema(name: str) -> dict[str, Any]:
    """prunner's definition (job, task) or response schema `name`, with the one change the seed page makes."""
    spec = copy.deepcopy(PEER_SCHEMAS["prunner-swagger.yml"])
    # The spec says each variable is an object, but its own example and the seed page's have arrays
    # ("tags": ["foo", "bar"]). The seed page wins, so any JSON value is accepted there.
    spec["definitions"]["job"]["properties"]["variables"]["additionalProperties"] = {}
    chosen = {"$ref": f"#/definitions/{name}"} if name in spec["definitions"] else spec["responses"][name]["schema"]
    return {"allOf": [chosen], **spec}


def runwisp_schema(name: str) -> dict[str, Any]:
    """RunWisp's component `name`, with the seed page's `replica_index` where the newer spec has `instance_index`."""
    spec = copy.deepcopy(PEER_SCHEMAS["runwisp-openapi.json"])
    run = spec["components"]["schemas"]["Run"]
    run["properties"]["replica_index"] = run["properties"].pop("instance_index")
    run["required"] = ["replica_index" if field == "instance_index" else field for field in run["required"]]
    return {"$ref": f"#/components/schemas/{name}", **spec}


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Swagger 2.0 definitions are draft 4; OpenAPI 3.1 components are draft 2020-12."""
    validator = jsonschema.Draft4Validator if "definitions" in schema else jsonschema.Draft202012Validator
    validator(schema, format_checker=FORMATS).validate(instance)
