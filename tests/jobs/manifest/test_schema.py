"""The manifest's JSON Schema: published in docs/ as served, and it agrees with the service on what it takes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from jobs.manifest.schema import manifest_schema
from tests.jobs.manifest.support import MANIFEST

PUBLISHED = Path(__file__).resolve().parents[3] / "docs" / "manifest.schema.json"


def test_the_published_schema_is_the_one_served():
    assert json.loads(PUBLISHED.read_text()) == manifest_schema(), "regenerate: manage.py jobs schema > docs/…"


def test_it_takes_the_example_manifest_and_refuses_an_unknown_field():
    validator = jsonschema.Draft202012Validator(manifest_schema())
    data = yaml.safe_load(MANIFEST)
    assert list(validator.iter_errors(data)) == []
    data["jobs"]["heartbeat"]["maxRunz"] = 3
    data["jobs"]["heartbeat"]["request"]["headers"] = {"Authorization": {"secretFrom": "vault:x"}}
    assert len(list(validator.iter_errors(data))) == 2
