"""The audit log: every write names who (user or key), what, when and from where; nobody can edit it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from history.models import Run
from history.services import run_delete, runs_delete
from jobs.admin import AuditEntryAdmin
from jobs.models import AuditEntry, Membership
from jobs.services import apikey_create, member_set
from tests.api_support import make_runs

pytestmark = pytest.mark.django_db

JOB_BODY = {
    "naturalId": "audited",
    "schedule": {"kind": "cron", "expression": "*/5 * * * *"},
    "request": {"url": "https://example.com/hook"},
}


def actions(team) -> list[str]:
    return list(AuditEntry.objects.filter(team=team).order_by("created_at", "id").values_list("action", flat=True))


def test_api_writes_are_recorded_with_the_key_and_the_address(team, owner, as_key):
    client = as_key(["job:read", "job:run", "job:edit"], created_by=owner)
    key_prefix = AuditEntry.objects.get(action="apikey.create").target_id
    assert client.post("/api/jobs", JOB_BODY, format="json", REMOTE_ADDR="203.0.113.9").status_code == 201
    assert client.patch("/api/jobs/audited", {"name": "Audited"}, format="json").status_code == 200
    assert client.post("/api/jobs/audited/pause").status_code == 200
    assert client.post("/api/jobs/audited/resume").status_code == 200
    run = client.post("/api/jobs/audited/run").json()
    assert client.post(f"/api/jobs/audited/history/{run['id']}/cancel").status_code == 200
    assert client.delete("/api/jobs/audited").status_code == 204
    assert actions(team) == [
        "member.add",  # alice, by the fixture
        "apikey.create",
        "job.create",
        "job.update",
        "job.pause",
        "job.resume",
        "run.trigger",
        "run.cancel",
        "job.delete",
    ]
    created = AuditEntry.objects.get(action="job.create")
    assert created.actor_label == f"key:{key_prefix}"
    assert created.actor_key.prefix == key_prefix
    assert created.actor_user is None
    assert created.ip_address == "203.0.113.9"
    assert created.target_label == "audited"
    assert created.target_type == "job"
    assert AuditEntry.objects.get(action="job.update").details == {
        "fields": ["name"],
        "changes": {"name": {"old": "audited", "new": "Audited"}},
    }


def test_dashboard_writes_name_the_user(team, owner, client, job):
    client.force_login(owner)
    assert client.post(reverse("jobs:pause", args=[job.pk])).status_code in (200, 302)
    assert client.post(reverse("jobs:run-now", args=[job.pk])).status_code in (200, 302)
    entry = AuditEntry.objects.get(action="job.pause")
    assert entry.actor_user == owner
    assert entry.actor_label == "alice"
    assert entry.actor_key is None
    assert entry.ip_address == "127.0.0.1"
    assert AuditEntry.objects.get(action="run.trigger").actor_label == "alice"


def test_run_deletes_keys_and_members_are_recorded(team, owner, job):
    runs = make_runs(job, 3)
    run_delete(run=runs[0], by=owner)
    assert runs_delete(queryset=Run.objects.filter(job=job), by=owner) == 2
    key, _ = apikey_create(team=team, name="ci", scopes=["job:read"], created_by=owner)
    from jobs.services import apikey_revoke

    apikey_revoke(key=key, by=owner)
    member_set(team=team, username="dave", role="viewer")
    member_set(team=team, username="dave", role="editor")
    Membership.objects.get(user__username="dave").delete()
    got = actions(team)
    for action in ("run.delete", "run.bulk_delete", "apikey.create", "apikey.revoke", "member.change", "member.remove"):
        assert action in got
    assert AuditEntry.objects.get(action="run.bulk_delete").details == {"count": 2}
    assert AuditEntry.objects.get(action="member.change").details == {"role": "editor", "previous_role": "viewer"}


def test_the_cli_is_recorded_as_system(team):
    member_set(team=team, username="eve", role="viewer")
    assert AuditEntry.objects.get(action="member.add", target_label="eve").actor_label == "system"


def test_details_never_hold_secrets(team, owner, as_key):
    client = as_key(["job:read", "job:edit"], created_by=owner)
    body = {
        **JOB_BODY,
        "request": {"url": "https://example.com/h", "headers": {"Authorization": "Bearer s3cr3t-value"}},
    }
    assert client.post("/api/jobs", body, format="json").status_code == 201
    client.patch("/api/jobs/audited", {"variables": {"token": "s3cr3t-value"}}, format="json")
    dumped = str(list(AuditEntry.objects.values()))
    assert "s3cr3t-value" not in dumped
    assert "hg_" not in dumped  # no raw key either


def test_entries_cannot_be_changed_or_deleted(team, owner):
    member_set(team=team, username="dave", role="viewer")
    entry = AuditEntry.objects.filter(team=team).first()
    entry.action = "job.delete"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="job.delete")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    model_admin = AuditEntryAdmin(AuditEntry, admin.site)
    request = RequestFactory().get("/")
    request.user = owner
    owner.is_superuser = True
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)


def test_team_deletion_still_cascades(team, owner):
    member_set(team=team, username="dave", role="viewer")
    team.delete()
    assert not AuditEntry.objects.exists()


def test_api_lists_entries_to_team_admins_only(team, owner, viewer, outsider, as_user, as_key):
    member_set(team=team, username="dave", role="viewer")
    member_set(team=team, username="dave", role="editor")
    assert as_user(viewer).get("/api/audit").status_code == 403
    response = as_user(outsider).get("/api/audit")
    assert response.status_code == 200
    assert response.json()["total"] == 1
    response = as_user(owner).get("/api/audit", {"action": "member.change"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    (item,) = body["_embedded"]["hg:audit"]
    assert item["action"] == "member.change"
    assert item["targetLabel"] == "dave"
    assert item["ownerId"] == "team:acme"
    assert as_key(["job:read"], created_by=owner).get("/api/audit").status_code == 403
    assert as_key(["team:admin"], created_by=owner).get("/api/audit").status_code == 200


def test_api_filters_and_pages(team, owner, as_user):
    for index in range(5):
        member_set(team=team, username=f"user{index}", role="viewer")
    client = as_user(owner)
    first = client.get("/api/audit", {"limit": 2, "action": "member.add"}).json()
    assert first["count"] == 2
    assert first["total"] == 6
    assert "next" in first["_links"]
    second = client.get(first["_links"]["next"]["href"]).json()
    assert {e["id"] for e in first["_embedded"]["hg:audit"]}.isdisjoint(
        e["id"] for e in second["_embedded"]["hg:audit"]
    )
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert client.get("/api/audit", {"since": later}).json()["total"] == 0
    assert client.get("/api/audit", {"until": later, "actor": "system"}).json()["total"] == 6
    bad = client.get("/api/audit", {"since": "yesterday", "limit": "x", "action": "job.bogus"})
    assert bad.status_code == 400
    assert bad["Content-Type"].startswith("application/problem+json")
    assert client.post("/api/audit", {}).status_code == 405


def test_dashboard_page_for_admins_only(team, owner, viewer, client):
    member_set(team=team, username="dave", role="viewer")
    client.force_login(viewer)
    assert client.get(reverse("jobs:audit")).status_code == 403
    client.force_login(owner)
    team_page = client.get(reverse("jobs:team")).content.decode()
    assert reverse("jobs:audit") in team_page
    page = client.get(reverse("jobs:audit"), {"action": "member.add"}).content.decode()
    assert "dave" in page
    assert "member.add" in page
    assert client.get(reverse("jobs:audit"), {"since": "nope"}).status_code == 400


@pytest.mark.parametrize("name", ["since", "until", "action"])
def test_api_refuses_an_empty_time_or_action(owner, as_user, name):
    response = as_user(owner).get(f"/api/audit?{name}=")
    assert response.status_code == 400
    assert [error["location"] for error in response.json()["errors"]] == [f"query.{name}"]
