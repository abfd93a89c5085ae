"""schemathesis against /api/schema/ on a live server, every operation (the primary API, the audit log and the
four dialects): no server errors, and every answer as documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from alerts.models import Incident
from alerts.services import channel_create, rule_save
from history.models import Run
from history.paging import Cursor
from jobs.calendar_services import calendar_write
from jobs.services import apikey_create
from tests.api_support import make_runs
from tests.factories import JobFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = "all"
# positive_data_acceptance's defaults, and 400 for the writes whose rules go past their schema.
SEMANTIC = '["2xx", "3xx", "400", "401", "403", "404", "409", "429"]'
REJECTED = '["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]'


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
# Every text input refuses NUL (docs/api.md, "Errors"): such a request is invalid input, not a schema-valid one.
[generation]
allow-x00 = false

[parameters]
"path.id" = "{values["job"]}"
"path.historyId" = "{values["run"]}"
"path.team" = "acme"
"path.projectId" = "acme"
"path.jobId" = "{values["job"]}"
"path.taskName" = "nightly"
"query.id" = "{values["run"]}"
# A cursor is opaque and only the ones a `next`/`prev` link gave are accepted: pass a real one.
"query.cursor" = "{values["cursor"]}"

# negative_data_rejection's defaults, and 413: a body past the size limit is refused before it is read.
[checks.negative_data_rejection]
expected-statuses = {REJECTED}

[[operations]]
include-operation-id = "jobs_destroy"
parameters = {{ "path.id" = "{values["doomed"]}" }}

[[operations]]
include-operation-id = "jobs_partial_update"
parameters = {{ "path.id" = "{values["patched"]}" }}
checks.positive_data_acceptance.expected-statuses = {SEMANTIC}

# These writes have rules no JSON Schema states: a cron expression's fields, a backfill range in the past, an IANA
# zone, an RE2 pattern, a one-off or an expiry in the future, templates naming declared variables, a job chain's
# `after` naming jobs of the team without a loop, a manifest's text, an anomaly minimum within its window, a size
# factor above 1, a JSON pointer. Their schema-valid bodies may answer 400 problem+json
# (tests/jobs/test_one_write_path.py holds each rule); every other check, and every other operation, runs as it comes.
[[operations]]
include-operation-id = ["jobs_create", "jobs_run", "jobs_backfill", "keys_create", "prunner_pipelines_schedule",
  "manifest_plan", "manifest_apply", "calendars_create"]
checks.positive_data_acceptance.expected-statuses = {SEMANTIC}

# A cursor continues the order it was made in (createdAt): with another sort it is refused.
[[operations]]
include-operation-id = ["history_list", "jobs_history_list"]
parameters = {{ "query.sort" = "-createdAt" }}

[[operations]]
include-operation-id = "jobs_history_destroy"
parameters = {{ "path.id" = "{values["scratch"]}", "path.historyId" = "{values["scratch_run"]}" }}

# A calendar's rules (a country the holidays package knows, real dates and wall times, an IANA zone) go past
# the schema; each call gets a calendar of its own by UUID, which a rename does not move.
[[operations]]
include-operation-id = ["calendars_retrieve", "calendars_partial_update"]
parameters = {{ "path.calendar" = "{values["calendar"]}" }}
checks.positive_data_acceptance.expected-statuses = {SEMANTIC}

[[operations]]
include-operation-id = "calendars_destroy"
parameters = {{ "path.calendar" = "{values["doomed_calendar"]}" }}
# Alerting: the id in the path is a channel's, a rule's or an incident's; destructive ones get their own. A channel's
# URL and a rule's quiet hours, zone and channels have rules no JSON Schema states (an Apprise URL, an IANA zone).
[[operations]]
include-operation-id = ["channels_retrieve", "channels_test"]
parameters = {{ "path.id" = "{values["channel"]}" }}

[[operations]]
include-operation-id = "channels_destroy"
parameters = {{ "path.id" = "{values["doomed_channel"]}" }}

[[operations]]
include-operation-id = "channels_create"
checks.positive_data_acceptance.expected-statuses = {SEMANTIC}

[[operations]]
include-operation-id = "alert_rules_create"
checks.positive_data_acceptance.expected-statuses = {SEMANTIC}

[[operations]]
include-operation-id = ["alert_rules_retrieve", "alert_rules_partial_update"]
parameters = {{ "path.id" = "{values["rule"]}" }}
checks.positive_data_acceptance.expected-statuses = {SEMANTIC}

[[operations]]
include-operation-id = "alert_rules_destroy"
parameters = {{ "path.id" = "{values["doomed_rule"]}" }}

[[operations]]
include-operation-id = "incidents_retrieve"
parameters = {{ "path.id" = "{values["incident"]}" }}

[[operations]]
include-operation-id = ["incidents_list", "deliveries_list"]
checks.positive_data_acceptance.expected-statuses = {SEMANTIC}

[[operations]]
include-operation-id = "jobs_history_delete_matching"
parameters = {{ "path.id" = "{values["scratch"]}" }}
"""


def _alerting(team, job, run) -> dict[str, str]:
    # Port 9 (discard) on loopback: a test alert is refused at once, nothing leaves the machine.
    channel = channel_create(team=team, name="ops", url="json://127.0.0.1:9/hook")
    doomed = channel_create(team=team, name="doomed", url="json://127.0.0.1:9/doomed")
    rule = rule_save(team=team, data={"job": job, "channels": [channel]})
    doomed_rule = rule_save(team=team, data={"job": None, "channels": [channel]})
    incident = Incident.objects.create(team=team, job=job, opened_at=run.created_at, first_run_id=run.pk)
    return {
        "channel": str(channel.pk),
        "doomed_channel": str(doomed.pk),
        "rule": str(rule.pk),
        "doomed_rule": str(doomed_rule.pk),
        "incident": str(incident.pk),
    }


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
        "cursor": Cursor(created_at=run.created_at, run_id=run.pk, offset=1).encode(),
        "calendar": str(calendar_write(team=team, fields={"name": "holidays"}).pk),
        "doomed_calendar": str(calendar_write(team=team, fields={"name": "doomed"}).pk),
        **_alerting(team, job, run),
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
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path)
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    # Every operation in the schema ran, the dialects' and /api/audit included, but the one excluded above.
    selected, total = re.search(r"Selected: (\d+)/(\d+)", result.stdout).groups()
    tested = re.search(r"Tested: (\d+)", result.stdout).group(1)
    assert int(selected) == int(tested) == int(total) - 1, summary
