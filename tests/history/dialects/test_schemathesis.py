"""Schemathesis over the dialect operations in /api/schema/: every answer matches what the schema documents.

Each generated case is sent twice: as generated (mostly unknown ids: the 4xx bodies must match) and
with its ids replaced by real ones (the 2xx bodies must match).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from config.wsgi import application
from history.models import Run
from tests.api_support import add_step, make_runs

DIALECT_TAGS = ["northflank", "prunner", "krafter", "runwisp"]
RELABELLED = [negative_data_rejection, positive_data_acceptance]

# Loaded at collection: the schema view reads no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(tag=DIALECT_TAGS)
# Every text input refuses NUL (PostgreSQL cannot store it; docs/api.md, "Errors"), so a body or query holding one
# is invalid input, not the schema-valid request schemathesis would otherwise take it for.
schema.config.generation.update(allow_x00=False)


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """Calling the WSGI app directly, unlike Django's test client, would let each request's end close the
    connection that holds the test's transaction (PostgreSQL; SQLite's in-memory one ignores it)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def real_ids(job, make_key) -> dict[str, str]:
    runs = make_runs(job, 3, http_status=200, response_body="ok")
    add_step(runs[0], "main")
    pending = make_runs(job, 1, status=Run.Status.PENDING, end_reason="")[0]
    return {
        "projectId": job.team.slug,
        "jobId": job.natural_id,
        "id": str(job.pk),
        "taskName": job.natural_id,
        "run": str(runs[0].pk),
        "pending": str(pending.pk),
        "key": make_key(["job:read", "job:run"]),
    }


def _with_real_ids(case: Any, ids: dict[str, str]) -> None:
    for name in case.path_parameters or {}:
        case.path_parameters[name] = ids[name]
    if case.query and "id" in case.query and case.path.startswith("/job/"):
        case.query["id"] = ids["pending"] if case.path == "/job/cancel" else ids["run"]
    if isinstance(case.body, dict) and "pipeline" in case.body:
        case.body["pipeline"] = ids["jobId"]


@schema.parametrize()
@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_dialect_answers_match_the_schema(case: Any, real_ids: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {real_ids['key']}"}
    case.call_and_validate(headers=headers)
    _with_real_ids(case, real_ids)
    # The case's positive/negative label described the generated ids, not the real ones put in now.
    case.call_and_validate(headers=headers, excluded_checks=RELABELLED)
