"""Tenant isolation: every URL of the project, as every kind of caller, answers exactly as the table says.

The walk covers the API, the four peer dialects, the dashboard, the admin and the auth pages. A URL
pattern without an entry in MATRIX (or ADMIN_MODELS for the admin) fails the test, so a new view
cannot ship without a decision about who may reach it.

Callers: anonymous; an outsider (admin of another team); each role of team A; and keys of team A
with each scope (made by its admin). Each request acts on fresh objects of team A (a job, an ended
run, a key), so destructive requests by one caller do not change what the next one sees.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from alerts.models import Incident
from alerts.services import channel_create, rule_save
from jobs.calendar_services import calendar_write
from jobs.services import apikey_create
from tests.api_support import make_runs
from tests.factories import JobFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

ACTORS = ("anon", "outsider", "viewer", "operator", "editor", "admin", "k:read", "k:run", "k:edit", "k:admin")
ROLE_OF = {"viewer": "viewer", "operator": "operator", "editor": "editor", "admin": "admin"}
SCOPE_OF = {"k:read": "job:read", "k:run": "job:run", "k:edit": "job:edit", "k:admin": "team:admin"}


def row(*statuses: int) -> dict[str, int]:
    assert len(statuses) == len(ACTORS)
    return dict(zip(ACTORS, statuses, strict=True))


# Expected status per caller, in ACTORS order:
#   anon, outsider (admin of another team), viewer, operator, editor, admin,
#   then keys with job:read, job:run, job:edit, team:admin
# Keys are not sessions: the dashboard treats them as anonymous (302 to the login page). A key's scope is
# exactly what it may do (job:run alone does not read). Lists and "current team" pages answer an outsider
# with its own team's data, never team A's (see test_outsider_never_sees_team_a).
PUBLIC = {actor: 200 for actor in ACTORS}

# route name -> (method, path (with {job}, {run}, {team}, {key}, {key_id} filled in), body, expected)
MATRIX: dict[str, tuple[str, str, Any, dict[str, int]]] = {
    # Auth pages
    "login": ("get", "/accounts/login/", None, row(200, 302, 302, 302, 302, 302, 200, 200, 200, 200)),
    "logout": ("post-form", "/accounts/logout/", {}, row(302, 302, 302, 302, 302, 302, 302, 302, 302, 302)),
    # An invited member's set-password page: a bad link shows "expired" to anyone.
    "password_reset_confirm": ("get", "/accounts/reset/MQ/bad-token/", None, PUBLIC),
    "password_reset_complete": ("get", "/accounts/reset/done/", None, PUBLIC),
    "rest_framework:login": ("get", "/api-auth/login/", None, row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "admin-login": ("get", "/admin/login/", None, row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "rest_framework:logout": (
        "post-form",
        "/api-auth/logout/",
        {},
        row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ),
    # Operability: no team data. /healthz is 200 or 503 by the broker's and beat's state; /metrics admits
    # loopback and private clients (the test client is 127.0.0.1) or a token.
    "healthz": ("get", "/healthz", None, {actor: (200, 503) for actor in ACTORS}),
    "metrics": ("get", "/metrics", None, PUBLIC),
    "echo": ("get", "/echo/", None, row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    # Dashboard: jobs and team
    "jobs:list": ("get", "/", None, row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302)),
    "jobs:create": ("get", "/jobs/new/", None, row(302, 200, 403, 403, 200, 200, 302, 302, 302, 302)),
    "jobs:schedule-preview": (
        "get",
        "/jobs/preview/?kind=cron&expression=*+*+*+*+*",
        None,
        row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302),
    ),
    # "Send a test request": an empty form sends nothing ("no HTTP step"), so every allowed caller gets 200.
    "jobs:test-request-new": (
        "post-form",
        "/jobs/test-request/",
        {},
        row(302, 200, 403, 403, 200, 200, 302, 302, 302, 302),
    ),
    "jobs:test-request": (
        "post-form",
        "/jobs/{job}/test-request/",
        {},
        row(302, 404, 403, 403, 200, 200, 302, 302, 302, 302),
    ),
    "jobs:detail": ("get", "/jobs/{job}/", None, row(302, 404, 200, 200, 200, 200, 302, 302, 302, 302)),
    "jobs:edit": ("get", "/jobs/{job}/edit/", None, row(302, 404, 403, 403, 200, 200, 302, 302, 302, 302)),
    "jobs:run-now": ("post-form", "/jobs/{job}/run/", {}, row(302, 404, 403, 302, 302, 302, 302, 302, 302, 302)),
    "jobs:pause": ("post-form", "/jobs/{job}/pause/", {}, row(302, 404, 403, 403, 302, 302, 302, 302, 302, 302)),
    "jobs:resume": ("post-form", "/jobs/{job}/resume/", {}, row(302, 404, 403, 403, 302, 302, 302, 302, 302, 302)),
    "jobs:backfill": ("get", "/jobs/{job}/backfill/", None, row(302, 404, 403, 200, 200, 200, 302, 302, 302, 302)),
    "jobs:delete": ("post-form", "/jobs/{job}/delete/", {}, row(302, 404, 403, 403, 302, 302, 302, 302, 302, 302)),
    # The current team's manifest: an outsider exports and imports into their own team. Importing confirmed
    # (a stale digest: nothing applied, the plan shown again) needs job:edit.
    "jobs:manifest-export": ("get", "/jobs/export/", None, row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302)),
    "jobs:manifest-import": (
        "post-form",
        "/jobs/import/",
        {"manifest": "version: 1\njobs:\n", "confirm": "apply", "digest": "stale"},
        row(302, 200, 403, 403, 200, 200, 302, 302, 302, 302),
    ),
    # The current team's calendars: an outsider sees their own team's. Deleting one needs job:edit in its team.
    "jobs:calendars": ("get", "/team/calendars/", None, row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302)),
    "jobs:calendar-delete": (
        "post-form",
        "/team/calendars/{calendar_id}/delete/",
        {},
        row(302, 404, 403, 403, 302, 302, 302, 302, 302, 302),
    ),
    "jobs:team": ("get", "/team/", None, row(302, 200, 403, 403, 403, 200, 302, 302, 302, 302)),
    "jobs:team-switch": (
        "post-form",
        "/team/switch/",
        {"team": "{team}"},
        row(302, 404, 302, 302, 302, 302, 302, 302, 302, 302),
    ),
    "jobs:apikey-create": (
        "post-form",
        "/team/keys/",
        {"name": "x", "scopes": ["job:read"]},
        row(302, 302, 403, 403, 403, 302, 302, 302, 302, 302),
    ),
    "jobs:apikey-revoke": (
        "post-form",
        "/team/keys/{key_id}/revoke/",
        {},
        row(302, 404, 403, 403, 403, 302, 302, 302, 302, 302),
    ),
    "jobs:audit": ("get", "/team/audit/", None, row(302, 200, 403, 403, 403, 200, 302, 302, 302, 302)),
    "jobs:member-add": (
        "post-form",
        "/team/members/",
        {"who": "", "role": "viewer"},
        row(302, 400, 403, 403, 403, 400, 302, 302, 302, 302),
    ),
    "jobs:member-role": (
        "post-form",
        "/team/members/{member_id}/role/",
        {"role": "editor"},
        row(302, 404, 403, 403, 403, 302, 302, 302, 302, 302),
    ),
    "jobs:member-remove": (
        "post-form",
        "/team/members/{member_id}/remove/",
        {},
        row(302, 404, 403, 403, 403, 302, 302, 302, 302, 302),
    ),
    "jobs:signing-secret": (
        "post-form",
        "/team/signing-secret/",
        {},
        row(302, 200, 403, 403, 403, 200, 302, 302, 302, 302),
    ),
    "jobs:signing-secret-rotate": (
        "post-form",
        "/team/signing-secret/rotate/",
        {"grace": "0"},
        row(302, 200, 403, 403, 403, 200, 302, 302, 302, 302),
    ),
    # Dashboard: alerting. The channels page, the incident list and the delivery log are the current team's.
    "alerts:channels": ("get", "/alerts/", None, row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302)),
    "alerts:channel-create": (
        "post-form",
        "/alerts/channels/",
        {},
        row(302, 400, 403, 403, 403, 400, 302, 302, 302, 302),
    ),
    "alerts:channel-test": (
        "post-form",
        "/alerts/channels/{channel}/test/",
        {},
        row(302, 404, 403, 403, 403, 200, 302, 302, 302, 302),
    ),
    # The first POST asks for confirmation.
    "alerts:channel-delete": (
        "post-form",
        "/alerts/channels/{channel}/delete/",
        {},
        row(302, 404, 403, 403, 403, 200, 302, 302, 302, 302),
    ),
    "alerts:rule-create": ("post-form", "/alerts/rules/", {}, row(302, 400, 403, 403, 400, 400, 302, 302, 302, 302)),
    "alerts:rule-delete": (
        "post-form",
        "/alerts/rules/{rule}/delete/",
        {},
        row(302, 404, 403, 403, 200, 200, 302, 302, 302, 302),
    ),
    "alerts:deliveries": ("get", "/alerts/deliveries/", None, row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302)),
    "alerts:incidents": ("get", "/incidents/", None, row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302)),
    "alerts:incident-detail": (
        "get",
        "/incidents/{incident}/",
        None,
        row(302, 404, 200, 200, 200, 200, 302, 302, 302, 302),
    ),
    # Dashboard: runs
    "history:job-runs-new": (
        "get",
        "/jobs/{job}/runs/new/",
        None,
        row(302, 404, 400, 400, 400, 400, 302, 302, 302, 302),
    ),
    "history:runs-delete": (
        "post-form",
        "/jobs/{job}/runs/delete/",
        {"run": ["{run}"]},
        row(302, 404, 403, 403, 200, 200, 302, 302, 302, 302),
    ),
    "history:job-runs-export": (
        "get",
        "/jobs/{job}/runs/export/",
        None,
        row(302, 404, 200, 200, 200, 200, 302, 302, 302, 302),
    ),
    "history:job-runs-delete-matching": (
        "get",
        "/jobs/{job}/runs/delete-matching/",
        None,
        row(302, 404, 403, 403, 200, 200, 302, 302, 302, 302),
    ),
    # The run feed is the current team's: an outsider gets their own team's runs.
    "history:runs": ("get", "/runs/", None, row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302)),
    "history:runs-new": ("get", "/runs/new/", None, row(302, 400, 400, 400, 400, 400, 302, 302, 302, 302)),
    "history:runs-export": ("get", "/runs/export/", None, row(302, 200, 200, 200, 200, 200, 302, 302, 302, 302)),
    "history:feed-runs-delete": (
        "post-form",
        "/runs/delete/",
        {"run": ["{run}"]},
        row(302, 200, 403, 403, 200, 200, 302, 302, 302, 302),
    ),
    "history:runs-delete-matching": (
        "get",
        "/runs/delete-matching/",
        None,
        row(302, 200, 403, 403, 200, 200, 302, 302, 302, 302),
    ),
    "history:run-detail": ("get", "/runs/{run}/", None, row(302, 404, 200, 200, 200, 200, 302, 302, 302, 302)),
    "history:run-live": ("get", "/runs/{run}/live/", None, row(302, 404, 200, 200, 200, 200, 302, 302, 302, 302)),
    "history:run-row": ("get", "/runs/{run}/row/", None, row(302, 404, 200, 200, 200, 200, 302, 302, 302, 302)),
    "history:run-cancel": (
        "post-form",
        "/runs/{run}/cancel/",
        {},
        row(302, 404, 403, 302, 302, 302, 302, 302, 302, 302),
    ),
    "history:run-rerun": ("post-form", "/runs/{run}/rerun/", {}, row(302, 404, 403, 302, 302, 302, 302, 302, 302, 302)),
    "history:run-delete": (
        "post-form",
        "/runs/{run}/delete/",
        {},
        row(302, 404, 403, 403, 302, 302, 302, 302, 302, 302),
    ),
    # Dialects
    "dialects:northflank-job-runs": (
        "get",
        "/v1/projects/{team}/jobs/{job}/runs",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "dialects:prunner-job-detail": (
        "get",
        "/job/detail?id={run}",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "dialects:prunner-job-cancel": (
        "post",
        "/job/cancel?id={run}",
        None,
        row(401, 404, 403, 409, 409, 409, 403, 409, 403, 403),
    ),
    "dialects:prunner-pipelines-schedule": (
        "post",
        "/pipelines/schedule",
        {"pipeline": "{job_name}"},
        row(401, 404, 403, 202, 202, 202, 403, 202, 403, 403),
    ),
    "dialects:krafter-executions": (
        "get",
        "/api/v1/cron/jobs/{job}/executions",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "dialects:runwisp-task-runs": (
        "get",
        "/api/tasks/{job_name}/runs",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    # A list: an outsider sees its own team's (none of team A's; test_outsider_never_sees_team_a).
    "dialects:runwisp-notifications": (
        "get",
        "/api/notifications",
        None,
        row(401, 200, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    # Primary API
    "api:root": ("get", "/api/", None, row(401, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "api:schema": ("get", "/api/schema/", None, row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "api:docs": ("get", "/api/docs/", None, row(200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "api:job-list": ("get", "/api/jobs", None, row(401, 200, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:job-detail": ("get", "/api/jobs/{job}", None, row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:job-pause": ("post", "/api/jobs/{job}/pause", None, row(401, 404, 403, 403, 200, 200, 403, 403, 200, 403)),
    "api:job-resume": ("post", "/api/jobs/{job}/resume", None, row(401, 404, 403, 403, 200, 200, 403, 403, 200, 403)),
    "api:job-run": ("post", "/api/jobs/{job}/run", None, row(401, 404, 403, 202, 202, 202, 403, 202, 403, 403)),
    # A body without a range: the callers who may backfill get as far as its check.
    "api:job-backfill": (
        "post",
        "/api/jobs/{job}/backfill",
        None,
        row(401, 404, 403, 400, 400, 400, 403, 400, 403, 403),
    ),
    "api:job-fire-times": (
        "get",
        "/api/jobs/{job}/fire-times",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:job-stats": ("get", "/api/jobs/{job}/stats", None, row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:job-history": ("get", "/api/jobs/{job}/history", None, row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:job-history-export": (
        "get",
        "/api/jobs/{job}/history/export",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:job-history-delete": (
        "post",
        "/api/jobs/{job}/history/delete",
        {},
        row(401, 404, 403, 403, 200, 200, 403, 403, 200, 403),
    ),
    "api:job-history-detail": (
        "get",
        "/api/jobs/{job}/history/{run}",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:job-history-cancel": (
        "post",
        "/api/jobs/{job}/history/{run}/cancel",
        None,
        row(401, 404, 403, 409, 409, 409, 403, 409, 403, 403),
    ),
    "api:job-history-rerun": (
        "post",
        "/api/jobs/{job}/history/{run}/rerun",
        None,
        row(401, 404, 403, 202, 202, 202, 403, 202, 403, 403),
    ),
    "api:history": ("get", "/api/history", None, row(401, 200, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:team-keys": ("get", "/api/teams/{team}/keys", None, row(401, 404, 403, 403, 403, 200, 403, 403, 403, 200)),
    "api:team-key": (
        "delete",
        "/api/teams/{team}/keys/{key}",
        None,
        row(401, 404, 403, 403, 403, 204, 403, 403, 403, 204),
    ),
    "api:team-calendars": (
        "get",
        "/api/teams/{team}/calendars",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    # Deleting: the callers with job:edit in team A may, everyone else is refused (and nothing goes).
    "api:team-calendar": (
        "delete",
        "/api/teams/{team}/calendars/{calendar}",
        None,
        row(401, 404, 403, 403, 204, 204, 403, 403, 204, 403),
    ),
    "api:team-signing-secret": (
        "get",
        "/api/teams/{team}/signing-secret",
        None,
        row(401, 404, 403, 403, 403, 200, 403, 403, 403, 200),
    ),
    "api:team-signing-secret-rotate": (
        "post",
        "/api/teams/{team}/signing-secret/rotate",
        None,
        row(401, 404, 403, 403, 403, 200, 403, 403, 403, 200),
    ),
    # Alerting: members read (job:read); team admins write and test channels, editors write rules.
    "api:team-channels": (
        "get",
        "/api/teams/{team}/channels",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:team-channel": (
        "get",
        "/api/teams/{team}/channels/{channel}",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:team-channel-test": (
        "post",
        "/api/teams/{team}/channels/{channel}/test",
        None,
        row(401, 404, 403, 403, 403, 200, 403, 403, 403, 200),
    ),
    "api:team-alert-rules": (
        "get",
        "/api/teams/{team}/alert-rules",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:team-alert-rule": (
        "get",
        "/api/teams/{team}/alert-rules/{rule}",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:team-incidents": (
        "get",
        "/api/teams/{team}/incidents",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:team-incident": (
        "get",
        "/api/teams/{team}/incidents/{incident}",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:team-deliveries": (
        "get",
        "/api/teams/{team}/deliveries",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:audit": ("get", "/api/audit", None, row(401, 200, 403, 403, 403, 200, 403, 403, 403, 200)),
    "api:manifest-schema": ("get", "/api/manifest/schema", None, row(401, 200, 200, 200, 200, 200, 200, 403, 403, 403)),
    "api:team-manifest": (
        "get",
        "/api/teams/{team}/manifest",
        None,
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:team-manifest-plan": (
        "post",
        "/api/teams/{team}/manifest/plan",
        {"manifest": "version: 1\njobs:\n"},
        row(401, 404, 200, 200, 200, 200, 200, 403, 403, 403),
    ),
    "api:team-manifest-apply": (
        "post",
        "/api/teams/{team}/manifest/apply",
        {"manifest": "version: 1\njobs:\n"},
        row(401, 404, 403, 403, 200, 200, 403, 403, 200, 403),
    ),
}

# The admin: its site pages, and per registered model its standard views. A model registered without an
# entry here fails test_every_url_has_an_entry. Who may see which rows is checked in test_admin_isolation.
ADMIN_SITE = {
    "admin:index",
    "admin:login",
    "admin:logout",
    "admin:password_change",
    "admin:password_change_done",
    "admin:autocomplete",
    "admin:jsi18n",
    "admin:view_on_site",
    "admin:app_list",
    "admin:",  # the catch-all that sends unknown admin URLs to the login page or a 404
    "admin:auth_user_password_change",
}
ADMIN_MODELS = {
    "auth_group",
    "auth_user",
    "jobs_team",
    "jobs_membership",
    "jobs_apikey",
    "jobs_job",
    "jobs_auditentry",
    "history_run",
    "alerts_channel",
    "alerts_alertrule",
    "alerts_incident",
    "alerts_delivery",
    # Beat's schedule tables (superusers only: no team role grants them).
    "django_celery_beat_clockedschedule",
    "django_celery_beat_crontabschedule",
    "django_celery_beat_intervalschedule",
    "django_celery_beat_periodictask",
    "django_celery_beat_solarschedule",
}
ADMIN_VIEWS = ("changelist", "add", "history", "delete", "change")


def walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
            found += walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            found.append((namespace + (pattern.name or ""), prefix + str(pattern.pattern)))
    return found


def test_every_url_has_an_entry():
    missing = []
    for name, route in walk(get_resolver().url_patterns):
        if name.startswith("admin:"):
            model_view = name.removeprefix("admin:").rsplit("_", 1)
            if name in ADMIN_SITE or (model_view[0] in ADMIN_MODELS and model_view[-1] in ADMIN_VIEWS):
                continue
            if route.endswith("<path:object_id>/"):
                continue  # the admin's redirect of a bare object URL to its change page
            missing.append(f"{name} ({route})")
        elif name not in MATRIX:
            missing.append(f"{name} ({route})")
    assert not missing, "URLs without an entry in the isolation matrix:\n" + "\n".join(missing)


@pytest.fixture
def world(db) -> dict[str, Any]:
    team = TeamFactory(slug="acme", name="Acme")
    other = TeamFactory(slug="globex", name="Globex")
    users = {
        actor: MembershipFactory(team=team, user=UserFactory(username=f"u-{actor}"), role=role).user
        for actor, role in ROLE_OF.items()
    }
    users["outsider"] = MembershipFactory(team=other, user=UserFactory(username="u-outsider"), role="admin").user
    keys = {}
    for actor, scope in SCOPE_OF.items():
        _, keys[actor] = apikey_create(team=team, name=actor, scopes=[scope], created_by=users["admin"])
    JobFactory(team=other, natural_id="theirs")
    return {"team": team, "users": users, "keys": keys}


def objects(world: dict[str, Any]) -> dict[str, str]:
    job = JobFactory(team=world["team"], natural_id=f"job-{uuid.uuid4().hex[:8]}")
    # Ended with a warning, so RunWisp's notifications would list it to anyone who may see it.
    (run,) = make_runs(job, 1, warnings=True, finished_at=timezone.now())
    key, _ = apikey_create(team=world["team"], name="victim", scopes=["job:read"])
    # A user without a password: hashing one per request would cost minutes over the matrix.
    member = MembershipFactory(team=world["team"], user=get_user_model().objects.create(username=f"m-{uuid.uuid4()}"))
    calendar = calendar_write(team=world["team"], fields={"name": f"cal-{uuid.uuid4().hex[:8]}"})
    channel = channel_create(team=world["team"], name=f"c-{uuid.uuid4().hex[:8]}", url="json://127.0.0.1:9/hook")
    rule = rule_save(team=world["team"], data={"job": job, "channels": [channel]})
    incident = Incident.objects.create(team=world["team"], job=job, opened_at=run.created_at, first_run_id=run.pk)
    return {
        "calendar": calendar.name,
        "calendar_id": str(calendar.pk),
        "channel": str(channel.pk),
        "rule": str(rule.pk),
        "incident": str(incident.pk),
        "member_id": str(member.pk),
        "job": str(job.pk),
        "job_name": job.natural_id,
        "run": str(run.pk),
        "team": "acme",
        "key": key.prefix,
        "key_id": str(key.pk),
    }


def client_for(world: dict[str, Any], actor: str) -> Client:
    client = Client()
    if actor in world["users"]:
        client.force_login(world["users"][actor])
    elif actor in world["keys"]:
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {world['keys'][actor]}"
    return client


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [fill(item, names) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, names) for key, item in value.items()}
    return value


def call(world: dict[str, Any], actor: str, method: str, path: str, body: Any) -> int:
    names = objects(world)
    filled, body = path.format(**names), fill(body, names)
    client = client_for(world, actor)
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"data": body, "content_type": "application/json"} if method != "post-form" else {"data": body}
    verb = "post" if method == "post-form" else method
    return getattr(client, verb)(filled, **kwargs).status_code


def test_matrix(world):
    wrong = []
    for name, route in walk(get_resolver().url_patterns):
        if name.startswith("admin:"):
            continue
        method, path, body, expected = MATRIX[name]
        observed = {actor: call(world, actor, method, path, body) for actor in ACTORS}
        if any(
            observed[actor] not in expected[actor]
            if isinstance(expected[actor], tuple)
            else observed[actor] != expected[actor]
            for actor in ACTORS
        ):
            diff = {
                actor: f"{expected[actor]}→{observed[actor]}" for actor in ACTORS if observed[actor] != expected[actor]
            }
            wrong.append(f"{name} ({route}): {diff}")
    assert not wrong, "\n".join(wrong)


def test_record(world):
    if not os.environ.get("MATRIX_RECORD"):
        pytest.skip("set MATRIX_RECORD=1 to print the observed table")
    for name, _route in walk(get_resolver().url_patterns):
        if name.startswith("admin:") or name not in MATRIX:
            continue
        method, path, body, _ = MATRIX[name]
        observed = [call(world, actor, method, path, body) for actor in ACTORS]
        print(f"{name:40} {observed}")


def test_admin_isolation(world):
    """Non-staff callers never reach the admin; a staff member of team B sees none of team A's rows."""
    names = objects(world)
    pages = [
        "/admin/",
        "/admin/jobs/job/",
        f"/admin/jobs/job/{names['job']}/change/",
        "/admin/history/run/",
        f"/admin/history/run/{names['run']}/change/",
        "/admin/jobs/auditentry/",
    ]
    for actor in ACTORS:
        for page in pages:
            assert call(world, actor, "get", page, None) == 302, (actor, page)
    staff = world["users"]["outsider"]
    staff.is_staff = True
    staff.save()
    client = client_for(world, "outsider")
    assert client.get("/admin/jobs/job/").status_code == 200
    assert names["job_name"] not in client.get("/admin/jobs/job/").content.decode()
    assert names["run"] not in client.get("/admin/history/run/").content.decode()
    audit_page = client.get("/admin/jobs/auditentry/").content.decode()
    assert "u-viewer" not in audit_page  # team A's member.add entries
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 403
    # Team A's objects by id: the admin answers "does not exist" (a redirect), never the page.
    assert client.get(f"/admin/jobs/job/{names['job']}/change/").status_code in (302, 403, 404)
    assert client.get(f"/admin/history/run/{names['run']}/change/").status_code in (302, 403, 404)


def test_outsider_never_sees_team_a(world):
    """Where an outsider gets 2xx (lists, its current-team pages), no id or name of team A's objects shows."""
    for name, (method, path, _body, expected) in MATRIX.items():
        if not isinstance(expected["outsider"], int) or expected["outsider"] >= 300 or method != "get":
            continue
        names = objects(world)
        response = client_for(world, "outsider").get(path.format(**names))
        raw = b"".join(response.streaming_content) if response.streaming else response.content
        content = raw.decode()
        for secret in (names["job"], names["job_name"], names["run"], names["key"], names["calendar"]):
            assert secret not in content, (name, secret)
