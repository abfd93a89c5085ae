"""Authentication: session and Bearer keys; 401s carry WWW-Authenticate: Bearer."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from jobs.access import key_permissions
from jobs.auth import apikey_verify
from jobs.models import ApiKey, Membership
from jobs.services import apikey_create, apikey_revoke, member_set
from tests.api_support import throttle_rates

pytestmark = pytest.mark.django_db


def _assert_401(response) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_it_answers_401_without_credentials(api, job):
    _assert_401(api.get("/api/jobs"))
    _assert_401(api.get(f"/api/jobs/{job.pk}/history"))
    _assert_401(api.post(f"/api/jobs/{job.pk}/run", {}, format="json"))


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer hg_deadbeef0000_wrongsecret", "Bearer ", "Bearer hg_a_b c"],
)
def test_it_answers_401_for_a_bad_key(api, job, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    _assert_401(api.get("/api/jobs"))


def test_it_rejects_the_right_prefix_with_the_wrong_secret(api, team, job, make_key):
    raw = make_key(["job:read"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw[:-3]}xyz")
    _assert_401(api.get("/api/jobs"))


def test_it_accepts_a_valid_key(as_key, job):
    response = as_key("job:read").get("/api/jobs")
    assert response.status_code == 200
    assert [item["naturalId"] for item in response.json()["_embedded"]["inf:job"]] == ["nightly-report"]


def test_it_stores_only_a_hash(team, make_key):
    raw = make_key(["job:read"])
    key = ApiKey.objects.get()
    assert raw.startswith(f"hg_{key.prefix}_")
    secret = raw.split("_", 2)[2]
    assert secret not in key.secret_hash
    assert len(key.secret_hash) == 64


def test_it_answers_401_for_an_expired_key(api, team, job):
    key, raw = apikey_create(team=team, name="old", scopes=["job:read"], expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.get("/api/jobs")
    _assert_401(response)
    assert "expired" in response.json()["detail"]


def test_it_answers_401_for_a_revoked_key(api, team, job):
    key, raw = apikey_create(team=team, name="gone", scopes=["job:read"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/jobs").status_code == 200
    apikey_revoke(key=key)
    response = api.get("/api/jobs")
    _assert_401(response)
    assert "revoked" in response.json()["detail"]


def test_it_answers_401_when_the_creator_is_deactivated(api, team, owner, job):
    _, raw = apikey_create(team=team, name="x", scopes=["job:read"], created_by=owner)
    owner.is_active = False
    owner.save()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    _assert_401(api.get("/api/jobs"))


def test_it_updates_last_used_at_at_most_once_a_minute(api, team, job, make_key):
    raw = make_key(["job:read"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    api.get("/api/jobs")
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    api.get("/api/jobs")
    assert ApiKey.objects.get().last_used_at == first
    with time_machine.travel(first + timedelta(minutes=2), tick=False):
        api.get("/api/jobs")
    assert ApiKey.objects.get().last_used_at > first


@pytest.mark.parametrize(("alias", "method", "allowed"), [("cron:read", "get", True), ("cron:read", "patch", False)])
def test_cron_read_is_job_read(as_key, job, alias, method, allowed):
    client = as_key(alias)
    if method == "get":
        response = client.get(f"/api/jobs/{job.natural_id}")
    else:
        response = client.patch(f"/api/jobs/{job.natural_id}", {"name": "renamed"}, format="json")
    assert response.status_code == (200 if allowed else 403)


def test_cron_write_is_job_edit(as_key, job):
    client = as_key(["cron:write"])
    assert client.patch(f"/api/jobs/{job.natural_id}", {"name": "renamed"}, format="json").status_code == 200
    # cron:write alone does not include reading or running
    assert client.post(f"/api/jobs/{job.natural_id}/run", {}, format="json").status_code == 403


def test_a_key_from_another_team_sees_nothing(as_key, other_team, job):
    client = as_key(["job:read", "job:edit"], on=other_team)
    assert client.get(f"/api/jobs/{job.pk}").status_code == 404
    assert client.get("/api/jobs").json()["total"] == 0


def test_a_key_never_exceeds_its_creators_role(team, viewer):
    with pytest.raises(Exception, match="Beyond what the creator may do"):
        apikey_create(team=team, name="x", scopes=["job:edit"], created_by=viewer)


def test_a_key_shrinks_when_its_creator_is_demoted(as_key, team, editor, job):
    client = as_key(["job:read", "job:edit"], created_by=editor)
    assert client.patch(f"/api/jobs/{job.pk}", {"name": "a"}, format="json").status_code == 200
    member_set(team=team, username=editor.username, role="viewer")
    assert client.patch(f"/api/jobs/{job.pk}", {"name": "b"}, format="json").status_code == 403
    assert client.get(f"/api/jobs/{job.pk}").status_code == 200


def test_a_keys_permissions_follow_its_creators_role_with_or_without_the_annotation(team, editor):
    # apikey_verify reads the creator's role in the key's own query; a key loaded any other way
    # (admin, shell) looks it up.
    key, raw = apikey_create(team=team, name="k", scopes=["job:read", "job:edit"], created_by=editor)
    plain = ApiKey.objects.get(pk=key.pk)
    assert key_permissions(plain) == key_permissions(apikey_verify(raw)) == {"job:read", "job:edit"}
    member_set(team=team, username=editor.username, role="viewer")
    assert key_permissions(ApiKey.objects.get(pk=key.pk)) == key_permissions(apikey_verify(raw)) == {"job:read"}
    Membership.objects.filter(user=editor, team=team).delete()
    assert key_permissions(ApiKey.objects.get(pk=key.pk)) == key_permissions(apikey_verify(raw)) == frozenset()


def test_session_login_works(as_user, viewer, job):
    response = as_user(viewer).get("/api/jobs")
    assert response.status_code == 200
    assert response.json()["total"] == 1


def test_it_throttles_keys_with_retry_after(as_key, job):
    client = as_key("job:read")
    with throttle_rates(apikey="3/minute"):
        codes = [client.get("/api/jobs").status_code for _ in range(4)]
        response = client.get("/api/jobs")
    assert codes == [200, 200, 200, 429]
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"] == "application/problem+json"


def test_it_throttles_session_users(as_user, viewer, job):
    client = as_user(viewer)
    with throttle_rates(user="2/minute"):
        codes = [client.get("/api/jobs").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
