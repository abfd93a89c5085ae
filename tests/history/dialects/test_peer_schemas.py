"""The peer-spec fragments copied into peer_schemas.json are the specs' own (checked where ../shared is present)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.history.dialects.conftest import PEER_SCHEMAS, SPECS

pytestmark = pytest.mark.skipif(not SPECS.exists(), reason="shared/specs is not beside the repository")


def test_the_prunner_fragments_are_the_specs():
    spec = yaml.safe_load((SPECS / "prunner-swagger.yml").read_text())
    copied = PEER_SCHEMAS["prunner-swagger.yml"]
    assert copied["definitions"] == {name: spec["definitions"][name] for name in copied["definitions"]}
    assert copied["responses"] == {name: spec["responses"][name] for name in copied["responses"]}
    assert set(copied["definitions"]) == {"job", "task"}


def test_the_runwisp_fragments_are_the_specs():
    spec = json.loads((SPECS / "runwisp-openapi.json").read_text())["components"]["schemas"]
    copied = PEER_SCHEMAS["runwisp-openapi.json"]["components"]["schemas"]
    assert copied == {name: spec[name] for name in copied}
    assert {"RunsResponseBody", "Run", "EndReason", "ErrorModel", "ErrorDetail"} <= set(copied)
