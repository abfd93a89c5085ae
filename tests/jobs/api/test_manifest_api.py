"""/api/teams/{team}/manifest (export), …/plan (job:read), …/apply (job:edit), /api/manifest/schema: roles,
problem+json with the file's lines, secrets from the client, all or nothing, the round trip."""

from __future__ import annotations

import pytest

from jobs.crypto import decrypt_value
from jobs.models import AuditEntry, Job
from tests.jobs.manifest.support import MANIFEST, SECRET

pytestmark = pytest.mark.django_db

BASE = "/api/teams/acme/manifest"
BODY = {"manifest": MANIFEST, "secrets": {"REPORT_TOKEN": SECRET}}


def test_a_viewer_plans_but_may_not_apply(as_user, viewer):
    client = as_user(viewer)
    response = client.post(f"{BASE}/plan", BODY, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["changed"] is True
    assert body["summary"] == {"create": 3, "update": 0, "delete": 0, "unchanged": 0}
    report = next(job for job in body["jobs"] if job["naturalId"] == "nightly-report")
    assert len(report["nextFireTimes"]) == 5
    assert report["slots7d"] == {"added": 7, "removed": 0}
    assert SECRET not in response.content.decode()
    denied = client.post(f"{BASE}/apply", BODY, format="json")
    assert denied.status_code == 403
    assert denied["Content-Type"] == "application/problem+json"
    assert not Job.objects.exists()


def test_an_outsider_gets_404(as_user, outsider):
    assert as_user(outsider).post(f"{BASE}/plan", BODY, format="json").status_code == 404
    assert as_user(outsider).get(BASE).status_code == 404


def test_a_key_with_job_edit_applies_once_and_the_export_round_trips(as_key, team):
    client = as_key(["job:read", "job:edit"])
    applied = client.post(f"{BASE}/apply", BODY, format="json")
    assert applied.status_code == 200, applied.json()
    assert applied.json()["summary"]["create"] == 3
    step = Job.objects.get(natural_id="nightly-report").steps.get()
    assert decrypt_value(step.config["headers"]["Authorization"]) == SECRET
    entry = AuditEntry.objects.get(action="manifest.apply")
    assert entry.actor_label.startswith("key:")
    again = client.post(f"{BASE}/apply", BODY, format="json")
    assert again.json()["changed"] is False
    exported = client.get(BASE, {"as": "yaml"})
    assert exported.status_code == 200
    text = exported.json()["text"]
    assert SECRET not in exported.content.decode()
    assert "secretFrom: stored" in text
    replanned = client.post(f"{BASE}/plan", {"manifest": text}, format="json")
    assert replanned.json()["changed"] is False
    as_json = client.get(BASE, {"as": "json"}).json()["text"]
    assert client.post(f"{BASE}/plan", {"manifest": as_json}, format="json").json()["changed"] is False


def test_a_bad_manifest_is_one_problem_with_every_error_and_its_line(as_key):
    bad = MANIFEST.replace("Europe/Berlin", "Mars/Olympus").replace("seconds: 60", "seconds: 60, every: 3")
    response = as_key(["job:read", "job:edit"]).post(f"{BASE}/apply", {"manifest": bad}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    errors = {(e["location"], e.get("line")) for e in response.json()["errors"]}
    assert errors == {
        ("body.manifest.jobs.nightly-report.schedule.timezone", 6),
        ("body.manifest.jobs.nightly-report.request.headers.Authorization.secretFrom", 11),
        ("body.manifest.jobs.heartbeat.schedule.every", 20),
    }
    assert not Job.objects.exists()


def test_the_body_takes_only_its_fields(as_key):
    response = as_key("job:read").post(f"{BASE}/plan", {**BODY, "dryRun": True}, format="json")
    assert response.status_code == 400
    assert [e["location"] for e in response.json()["errors"]] == ["body.dryRun"]


def test_prune_needs_saying(as_key, team):
    from tests.factories import JobFactory

    JobFactory(team=team, natural_id="legacy")
    client = as_key(["job:read", "job:edit"])
    assert client.post(f"{BASE}/plan", BODY, format="json").json()["summary"]["delete"] == 0
    pruned = client.post(f"{BASE}/apply", {**BODY, "prune": True}, format="json").json()
    assert pruned["summary"]["delete"] == 1
    assert not Job.objects.filter(natural_id="legacy").exists()


def test_the_schema_is_served(as_key):
    response = as_key("job:read").get("/api/manifest/schema")
    assert response.status_code == 200
    assert response.json()["title"] == "Hourglass jobs manifest"


def test_the_endpoints_are_in_the_openapi_schema(as_key):
    paths = as_key("job:read").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert {"/api/teams/{team}/manifest", "/api/teams/{team}/manifest/plan", "/api/manifest/schema"} <= set(paths)
    assert "/api/teams/{team}/manifest/apply" in paths


def test_only_who_may_change_a_secret_learns_whether_a_value_matches_it(as_key, as_user, viewer):
    as_key(["job:read", "job:edit"]).post(f"{BASE}/apply", BODY, format="json")
    editor_plan = as_key(["job:read", "job:edit"]).post(f"{BASE}/plan", BODY, format="json").json()
    assert editor_plan["changed"] is False
    viewer_plan = as_user(viewer).post(f"{BASE}/plan", BODY, format="json").json()
    [job] = viewer_plan["jobs"]
    assert job["changes"] == [
        {"path": "request.headers.Authorization", "old": "[redacted]", "new": "[redacted] (a new value)"}
    ]
