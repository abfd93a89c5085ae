"""Jobs: create, read, change, pause/resume, run, fire-times, stats, delete; natural ID lookup and 409."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from history.models import Run
from jobs.crypto import decrypt_config
from jobs.models import Job, JobStep, Membership
from tests.api_support import make_runs
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _short_intervals(settings):
    # These jobs run every 5 s, below the default minimum interval (HOURGLASS_MIN_INTERVAL_SECONDS).
    settings.HOURGLASS_MIN_INTERVAL_SECONDS = 1


def test_create_with_steps_retry_retention_and_rule(as_user, editor):
    payload = {
        "naturalId": "sync",
        "name": "Sync",
        "schedule": {"kind": "cron", "expression": "30 2 * * *", "timezone": "Europe/Berlin"},
        "steps": [
            {"name": "fetch", "config": {"url": "https://example.com/a", "timeoutMs": 5000}},
            {
                "name": "push",
                "dependsOn": ["fetch"],
                "config": {"method": "POST", "url": "https://example.com/b", "body": "{}"},
            },
        ],
        "notify": [{"kind": "webhook", "config": {"url": "https://hooks.example.com/x", "onRecovery": True}}],
        "retry": {"limit": 3, "backoff": "linear", "baseSeconds": 5},
        "overlapPolicy": "forbid",
        "misfireGraceSeconds": 30,
        "successRule": {"statuses": "200-299,304", "bodyContains": "ok"},
        "retention": {"keepRuns": 50, "keepDays": 7},
        "variables": {"region": "eu"},
        "enabled": True,
    }
    response = as_user(editor).post("/api/jobs", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"] == f"/api/jobs/{body['id']}"
    job = Job.objects.get(natural_id="sync")
    assert (job.retry_limit, job.backoff_strategy, job.backoff_base_seconds) == (3, "linear", 5)
    assert (job.overlap_policy, job.misfire_grace_seconds, job.keep_runs, job.keep_days) == ("forbid", 30, 50, 7)
    assert (job.success_statuses, job.success_body_contains, job.variables) == ("200-299,304", "ok", {"region": "eu"})
    assert job.created_by == editor
    assert job.next_run_at is not None
    steps = list(JobStep.objects.filter(job=job).order_by("position"))
    assert [(s.name, s.kind, s.depends_on) for s in steps] == [
        ("fetch", "http", []),
        ("push", "http", ["fetch"]),
        ("notify-1", "webhook", []),
    ]
    assert steps[0].config["timeout_ms"] == 5000
    assert steps[2].run_if == "always"
    assert body["schedule"]["description"] == "At 02:30 (Europe/Berlin)"
    assert body["retry"] == {"limit": 3, "backoff": "linear", "baseSeconds": 5}
    assert [s["name"] for s in body["steps"]] == ["fetch", "push", "notify-1"]


def test_a_duplicate_natural_id_is_400(as_user, editor, job):
    payload = {
        "naturalId": job.natural_id,
        "schedule": {"kind": "interval", "seconds": 5},
        "request": {"url": "https://x.test/"},
    }
    response = as_user(editor).post("/api/jobs", payload, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["location"] == "body.naturalId"


def test_a_member_of_several_teams_names_the_team(as_user, editor, other_team):
    Membership.objects.create(team=other_team, user=editor, role="editor")
    payload = {"naturalId": "x", "schedule": {"kind": "interval", "seconds": 5}, "request": {"url": "https://x.test/"}}
    response = as_user(editor).post("/api/jobs", payload, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["location"] == "body.team"
    assert as_user(editor).post("/api/jobs", {**payload, "team": "globex"}, format="json").status_code == 201
    assert Job.objects.get().team == other_team


def test_get_by_uuid_or_natural_id(as_user, viewer, job):
    client = as_user(viewer)
    assert client.get(f"/api/jobs/{job.pk}").json()["naturalId"] == "nightly-report"
    assert client.get("/api/jobs/nightly-report").json()["id"] == str(job.pk)


def test_a_natural_id_in_several_teams_is_409_naming_the_uuids(as_user, editor, team, other_team, job):
    Membership.objects.create(team=other_team, user=editor, role="viewer")
    twin = JobFactory(team=other_team, natural_id=job.natural_id)
    response = as_user(editor).get(f"/api/jobs/{job.natural_id}/history")
    assert response.status_code == 409
    body = response.json()
    assert sorted(body["jobs"]) == sorted([str(job.pk), str(twin.pk)])
    assert str(job.pk) in body["detail"]
    assert as_user(editor).get(f"/api/jobs/{twin.pk}/history").status_code == 200


def test_patch_changes_only_what_is_sent(as_user, editor, job):
    response = as_user(editor).patch(
        f"/api/jobs/{job.pk}",
        {"retry": {"limit": 2}, "schedule": {"timezone": "Asia/Tokyo"}, "request": {"url": "https://new.test/"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    job.refresh_from_db()
    assert (job.retry_limit, job.backoff_strategy, job.timezone, job.cron_expression) == (
        2,
        "exponential",
        "Asia/Tokyo",
        "* * * * *",
    )
    assert job.steps.get().config["url"] == "https://new.test/"


def test_patch_keeps_secret_headers_sent_back_redacted(as_user, editor, job):
    client = as_user(editor)
    client.patch(
        f"/api/jobs/{job.pk}",
        {"request": {"url": "https://x.test/", "headers": {"Authorization": "Bearer real", "X-A": "1"}}},
        format="json",
    )
    shown = client.get(f"/api/jobs/{job.pk}").json()
    assert shown["steps"][0]["config"]["headers"] == {"Authorization": "[redacted]", "X-A": "1"}
    shown["steps"][0]["config"]["headers"]["X-A"] = "2"
    assert client.patch(f"/api/jobs/{job.pk}", {"steps": shown["steps"]}, format="json").status_code == 200
    # Stored encrypted at rest (jobs.crypto); the executor decrypts.
    assert decrypt_config(job.steps.get().config)["headers"] == {"Authorization": "Bearer real", "X-A": "2"}


def test_patch_cannot_move_a_job(as_user, editor, job):
    response = as_user(editor).patch(f"/api/jobs/{job.pk}", {"team": "globex", "name": "moved"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"location": "body.team", "message": "A job cannot move to another team.", "value": "globex"}
    ]
    job.refresh_from_db()
    assert job.name != "moved"


def test_a_change_is_described_without_a_team(api):
    schema = api.get("/api/schema/?format=json").json()
    change = schema["paths"]["/api/jobs/{id}"]["patch"]["requestBody"]["content"]
    assert list(change) == ["application/json"]  # the form parsers serve the browsable API only
    shape = schema["components"]["schemas"][change["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert "team" not in shape["properties"]
    assert shape["additionalProperties"] is False


def test_pause_and_resume(as_user, editor, job):
    client = as_user(editor)
    body = client.post(f"/api/jobs/{job.pk}/pause").json()
    assert (body["enabled"], body["nextRunAt"]) == (False, None)
    body = client.post(f"/api/jobs/{job.pk}/resume").json()
    assert body["enabled"] is True
    assert body["nextRunAt"] is not None


def test_run_answers_202_with_the_new_run(as_user, operator, job):
    response = as_user(operator).post(f"/api/jobs/{job.pk}/run", {"variables": {"region": "eu"}}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    run = Run.objects.get(pk=body["id"])
    assert (run.status, run.triggered_by, run.triggered_by_user, run.variables) == (
        "pending",
        "api",
        operator,
        {"region": "eu"},
    )
    assert (body["status"], body["user"], body["triggeredBy"]) == ("pending", "oscar", "api")
    assert response["Location"] == f"/api/jobs/{job.pk}/history/{run.pk}"


def test_run_rejects_bad_variables(as_user, operator, job):
    assert as_user(operator).post(f"/api/jobs/{job.pk}/run", {"variables": [1]}, format="json").status_code == 400
    assert not Run.objects.exists()


def test_fire_times(as_user, viewer, team):
    job = JobFactory(team=team, cron_expression="0 9 * * 1-5", timezone="America/New_York")
    body = as_user(viewer).get(f"/api/jobs/{job.pk}/fire-times?count=3").json()
    assert len(body["fireTimes"]) == 3
    assert body["description"].endswith("(America/New_York)")
    assert all(t.endswith(("13:00:00Z", "14:00:00Z")) for t in body["fireTimes"])
    assert as_user(viewer).get(f"/api/jobs/{job.pk}/fire-times?count=0").status_code == 400


def test_stats(as_user, viewer, job):
    now = timezone.now()
    make_runs(job, 8, start=now - timedelta(hours=1), duration_ms=100, lateness_ms=10, finished_at=now)
    make_runs(job, 2, start=now - timedelta(minutes=10), end_reason="failed", duration_ms=900, lateness_ms=50)
    make_runs(job, 5, start=now - timedelta(days=3), duration_ms=5)
    body = as_user(viewer).get(f"/api/jobs/{job.pk}/stats").json()
    assert (body["runs"], body["ended"], body["succeeded"], body["successRate"]) == (10, 10, 8, 0.8)
    assert body["durationMs"] == {"p50": 100, "p95": 900, "p99": 900}
    assert body["latenessMs"] == {"p50": 10, "p99": 50}
    assert body["lastSuccessAt"] is not None
    assert as_user(viewer).get(f"/api/jobs/{job.pk}/stats?window=7d").json()["runs"] == 15
    assert as_user(viewer).get(f"/api/jobs/{job.pk}/stats?window=1y").status_code == 400


def test_delete_removes_the_job_and_its_history(as_user, editor, job):
    make_runs(job, 3)
    assert as_user(editor).delete(f"/api/jobs/{job.pk}").status_code == 204
    assert not Job.objects.exists()
    assert not Run.objects.exists()


def test_list_search_sort_and_paging(as_user, viewer, team):
    for name in ("beta", "alpha", "gamma", "alphabet"):
        JobFactory(team=team, natural_id=name, name=name.title())
    client = as_user(viewer)
    body = client.get("/api/jobs?q=alpha").json()
    assert [j["naturalId"] for j in body["_embedded"]["inf:job"]] == ["alpha", "alphabet"]
    body = client.get("/api/jobs?sort=-naturalId&limit=2").json()
    assert [j["naturalId"] for j in body["_embedded"]["inf:job"]] == ["gamma", "beta"]
    assert (body["total"], body["count"]) == (4, 2)
    assert client.get(body["_links"]["next"]["href"]).json()["start"] == 2
    assert client.get("/api/jobs?sort=owner").status_code == 400
