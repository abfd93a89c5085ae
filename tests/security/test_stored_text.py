"""Rows stored before input was checked (NUL, lone surrogates) are mended by `repairtext` (and migration jobs 0004),
after which every page renders: the API, the five dialects, the dashboard, the admin and the audit log."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from alerts.models import Incident
from alerts.services import channel_create, rule_save
from history.models import Run, RunStep
from jobs.models import ApiKey, AuditEntry, Job, JobStep
from jobs.text import unclean_paths
from tests.factories import JobFactory
from tests.security.test_isolation_matrix import MATRIX

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL refuses to store NUL and lone surrogates"),
]

# SQLite keeps a lone surrogate only inside JSON (escaped); its text columns can hold NUL.
S, N = "\ud800", "\x00"
ADMIN_PAGES = [
    "/admin/",
    "/admin/jobs/job/",
    "/admin/jobs/job/{job}/change/",
    "/admin/jobs/auditentry/",
    "/admin/jobs/auditentry/{audit}/change/",
    "/admin/jobs/apikey/",
    "/admin/jobs/team/",
    "/admin/history/run/",
    "/admin/history/run/{run}/change/",
]


def _dirty_rows(team, owner) -> dict[str, str]:
    job = JobFactory(team=team, natural_id="dirty", name=f"Dirty{N} name", description=f"d{N}escription")
    Job.objects.filter(pk=job.pk).update(variables={f"v{S}": f"x{S}", "n": f"a{N}"}, secret_headers=[f"X-{S}"])
    JobStep.objects.filter(job=job).update(
        config={"method": "GET", "url": "https://x.test/", "headers": {f"X-{S}": f"v{S}"}, "body": N, "timeout_ms": 1}
    )
    run = Run.objects.create(
        job=job,
        team=team,
        scheduled_for=job.created_at,
        status=Run.Status.ENDED,
        end_reason=Run.EndReason.FAILED,
        run_name=f"dirty{N}",
        error=f"e{N}",
        response_body=f"b{N}",
        variables={"x": S, f"k{S}": [S]},
        data={f"d{S}": 1},
        request={"method": "GET", "url": "https://x.test/", "headers": {"X": S}, "body": S},
    )
    RunStep.objects.create(run=run, name="main", status="error", message=f"m{N}", error=f"e{N}", opts={"o": S})
    entry = AuditEntry.objects.create(
        team=team, action="run.trigger", actor_label=f"alice{N}", target_label=f"t{N}", details={"variables": [S]}
    )
    ApiKey.objects.create(team=team, name=f"key{N}", prefix="dirty1234567", secret_hash="x", scopes=["job:read"])
    return {"job": str(job.pk), "job_name": job.natural_id, "run": str(run.pk), "team": "acme", "audit": str(entry.pk)}


def _alerting(team, job, run) -> dict[str, str]:
    """A channel, a rule and an incident, for the alerting pages among every page."""
    channel = channel_create(team=team, name="ops", url="json://hooks.example.com/x")
    rule = rule_save(team=team, data={"job": job, "channels": [channel]})
    incident = Incident.objects.create(team=team, job=job, opened_at=run.created_at, first_run_id=run.pk)
    return {"channel": str(channel.pk), "rule": str(rule.pk), "incident": str(incident.pk)}


def _stored_text() -> list:
    rows = [
        *Job.objects.values_list("name", "description", "variables", "secret_headers"),
        *JobStep.objects.values_list("config"),
        *Run.objects.values_list("run_name", "error", "response_body", "variables", "data", "request"),
        *RunStep.objects.values_list("message", "error", "opts"),
        *AuditEntry.objects.values_list("actor_label", "target_label", "details"),
        *ApiKey.objects.values_list("name"),
    ]
    return [problem for row in rows for problem in unclean_paths(list(row))]


def test_repairtext_mends_stored_rows_and_every_page_then_renders(team, owner):
    names = _dirty_rows(team, owner)
    names.update(_alerting(team, Job.objects.get(pk=names["job"]), Run.objects.get(pk=names["run"])))
    assert len(_stored_text()) >= 15
    out = io.StringIO()
    call_command("repairtext", stdout=out)
    assert out.getvalue().startswith("Mended 6 rows")
    assert _stored_text() == []
    assert Run.objects.get().variables == {"x": "\ufffd", "k\ufffd": ["\ufffd"]}
    assert Job.objects.get().name == "Dirty name"
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    pages = [path for method, path, _, _ in MATRIX.values() if method == "get"] + ADMIN_PAGES
    pages += ["/api/jobs/{job}/history/export?format=ndjson", "/jobs/{job}/runs/new/?since=2000-01-01T00:00:00Z"]
    failed = {}
    for page in pages:
        response = client.get(page.format(**names))
        body = b"".join(response.streaming_content) if response.streaming else response.content
        # /healthz answers 503 here by design: no worker runs the dispatcher in this test.
        if (response.status_code >= 500 and page != "/healthz") or (response.status_code == 200 and not body):
            failed[page] = response.status_code
    assert not failed, failed
    # Run again, it finds nothing left to mend.
    call_command("repairtext", stdout=out)
    assert out.getvalue().endswith("Mended 0 rows.\n")
