"""Export on the jobs list and the Import page: the plan first, applied only on confirming that same plan."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import AuditEntry, Job
from tests.factories import JobFactory
from tests.jobs.manifest.support import MANIFEST

pytestmark = pytest.mark.django_db

EXPORT = reverse("jobs:manifest-export")
IMPORT = reverse("jobs:manifest-import")
# The dashboard cannot read the caller's environment: a plain value stands in for the env: reference.
TEXT = MANIFEST.replace("{secretFrom: env:REPORT_TOKEN}", "Bearer typed-in-token")


def test_the_jobs_list_links_export_and_import(as_user, viewer):
    page = as_user(viewer).get(reverse("jobs:list")).content.decode()
    assert f'href="{EXPORT}"' in page
    assert f'href="{IMPORT}"' in page


def test_export_downloads_the_teams_manifest_without_secrets(as_user, viewer, team):
    JobFactory(team=team, natural_id="theirs")
    response = as_user(viewer).get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="acme-jobs.yaml"'
    assert "theirs:" in response.content.decode()


def test_another_teams_member_exports_their_own_team_only(as_user, outsider, team):
    JobFactory(team=team, natural_id="acme-only")
    response = as_user(outsider).get(EXPORT)
    assert response["Content-Disposition"] == 'attachment; filename="globex-jobs.yaml"'
    assert "acme-only" not in response.content.decode()


def test_import_shows_the_plan_and_changes_nothing_until_confirmed(as_user, editor, team):
    client = as_user(editor)
    shown = client.post(IMPORT, {"manifest": TEXT})
    page = shown.content.decode()
    assert "3 to create" in page
    assert "Apply these changes" in page
    assert "typed-in-token" not in page.split("<textarea", 1)[0]
    assert not Job.objects.exists()
    digest = shown.context["digest"]
    applied = client.post(IMPORT, {"manifest": TEXT, "digest": digest, "confirm": "apply"})
    assert applied.status_code == 302
    assert Job.objects.filter(team=team).count() == 3
    assert AuditEntry.objects.filter(action="manifest.apply", actor_label="erin").exists()


def test_a_plan_that_went_stale_is_shown_again_not_applied(as_user, editor, team):
    client = as_user(editor)
    digest = client.post(IMPORT, {"manifest": TEXT}).context["digest"]
    JobFactory(team=team, natural_id="heartbeat", cron_expression="0 * * * *")
    again = client.post(IMPORT, {"manifest": TEXT, "digest": digest, "confirm": "apply"})
    assert again.status_code == 200
    assert "review this one" in again.content.decode()
    assert Job.objects.filter(team=team).count() == 1


def test_a_viewer_sees_the_plan_but_cannot_apply(as_user, viewer):
    client = as_user(viewer)
    shown = client.post(IMPORT, {"manifest": TEXT})
    assert "Applying needs the editor role." in shown.content.decode()
    denied = client.post(IMPORT, {"manifest": TEXT, "digest": shown.context["digest"], "confirm": "apply"})
    assert denied.status_code == 403
    assert not Job.objects.exists()


def test_a_bad_manifest_lists_every_problem_with_its_line(as_user, editor):
    bad = TEXT.replace("Europe/Berlin", "Mars/Olympus").replace("seconds: 60", "seconds: 1")
    page = as_user(editor).post(IMPORT, {"manifest": bad}).content.decode()
    assert "2 problems: nothing was changed" in page
    assert "line 6" in page
    assert "jobs.heartbeat.schedule.seconds" in page
