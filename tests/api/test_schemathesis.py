"""schemathesis against /api/schema/ on a live server, every operation (the primary API, the audit log and the
four dialects): no server errors, and every answer as documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from history.models import Run
from jobs.services import apikey_create
from tests.api.conftest import make_runs
from tests.factories import JobFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture
def quiet_broker(tmp_path):
    """Runs triggered over HTTP publish on commit; keep those messages out of the project's var/."""
    from config.celery import app

    saved = dict(app.conf.broker_transport_options or {})
    folder = str(tmp_path / "broker")
    Path(folder).mkdir()
    app.conf.broker_transport_options = {
        **saved,
        "data_folder_in": folder,
        "data_folder_out": folder,
        "control_folder": folder,
        "processed_folder": folder,
    }
    _forget_pools(app)
    yield
    app.conf.broker_transport_options = saved
    _forget_pools(app)


def _forget_pools(app) -> None:
    # As celery does after a fork: the next publish opens a pool for the current options.
    # kombu keys its global pools by the transport options, so the project's pool is untouched.
    app._pool = None
    app.amqp._producer_pool = None


def _config(values: dict[str, str]) -> str:
    """Real identifiers, so the generated requests reach past the 404s; destructive ones get their own."""
    return f"""
[parameters]
"path.id" = "{values["job"]}"
"path.historyId" = "{values["run"]}"
"path.team" = "acme"
"path.projectId" = "acme"
"path.jobId" = "{values["job"]}"
"path.taskName" = "nightly"
"query.id" = "{values["run"]}"

[[operations]]
include-operation-id = "jobs_destroy"
parameters = {{ "path.id" = "{values["doomed"]}" }}

[[operations]]
include-operation-id = "jobs_partial_update"
parameters = {{ "path.id" = "{values["patched"]}" }}

[[operations]]
include-operation-id = "jobs_history_destroy"
parameters = {{ "path.id" = "{values["scratch"]}", "path.historyId" = "{values["scratch_run"]}" }}

[[operations]]
include-operation-id = "jobs_history_delete_matching"
parameters = {{ "path.id" = "{values["scratch"]}" }}
"""


def test_schemathesis_reports_no_failures(live_server, tmp_path, quiet_broker):
    team = TeamFactory(slug="acme")
    owner = UserFactory(username="alice")
    MembershipFactory(team=team, user=owner, role="admin")
    job = JobFactory(team=team, natural_id="nightly")
    run = make_runs(job, 3, http_status=200)[0]
    make_runs(job, 1, status=Run.Status.PENDING, end_reason="")
    scratch = JobFactory(team=team, natural_id="scratch")
    scratch_run = make_runs(scratch, 2)[0]
    values = {
        "job": str(job.pk),
        "run": str(run.pk),
        "doomed": str(JobFactory(team=team, natural_id="doomed").pk),
        "patched": str(JobFactory(team=team, natural_id="patched").pk),
        "scratch": str(scratch.pk),
        "scratch_run": str(scratch_run.pk),
    }
    _, key = apikey_create(
        team=team, name="schemathesis", scopes=["job:read", "job:run", "job:edit", "team:admin"], created_by=owner
    )
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(values))
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{live_server.url}/api/schema/",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,fuzzing,stateful",
        "--max-examples",
        "10",
        "--seed",
        "20261123",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        "--no-color",
        # It would find the run's own key in the list and revoke it; test_keys_api covers revocation.
        "--exclude-operation-id",
        "keys_revoke",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path)  # noqa: S603
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    # Every operation in the schema ran, the dialects' and /api/audit included, but the one excluded above.
    selected, total = re.search(r"Selected: (\d+)/(\d+)", result.stdout).groups()
    tested = re.search(r"Tested: (\d+)", result.stdout).group(1)
    assert int(selected) == int(tested) == int(total) - 1, summary
