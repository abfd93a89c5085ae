"""The admin follows team roles: staff see their teams only, deleting a run needs the editor role there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from history.models import Run
from jobs.models import Job
from tests.factories import JobFactory, RunFactory, UserFactory


@pytest.fixture
def staff(request):
    """Make a persona staff (the admin needs it), e.g. staff("viewer")."""

    def make(persona: str):
        user = request.getfixturevalue(persona)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        return user

    return make


def _delete_url(run: Run) -> str:
    return reverse("admin:history_run_delete", args=[run.pk])


def test_it_refuses_the_delete_to_a_staff_viewer_even_with_the_django_permission(client, staff, ended_run):
    viewer = staff("viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="delete_run"))
    client.force_login(viewer)
    assert client.get(_delete_url(ended_run)).status_code == 403
    assert client.post(_delete_url(ended_run), {"post": "yes"}).status_code == 403
    assert Run.objects.filter(pk=ended_run.pk).exists()
    changelist = client.get(reverse("admin:history_run_changelist"))
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()


def test_it_lets_a_staff_editor_delete_an_ended_run(client, staff, ended_run):
    client.force_login(staff("editor"))
    assert client.get(_delete_url(ended_run)).status_code == 200
    response = client.post(_delete_url(ended_run), {"post": "yes"})
    assert response.status_code == 302
    assert not Run.objects.filter(pk=ended_run.pk).exists()


def test_it_refuses_to_delete_a_running_run(client, staff, running_run):
    client.force_login(staff("editor"))
    assert client.post(_delete_url(running_run), {"post": "yes"}).status_code == 403
    assert Run.objects.filter(pk=running_run.pk).exists()


def test_it_bulk_deletes_only_with_the_role_in_every_selected_runs_team(client, staff, ended_run, other_team):
    editor = staff("editor")
    foreign = RunFactory(job=JobFactory(team=other_team))
    client.force_login(editor)
    data = {"action": "delete_selected", "_selected_action": [str(ended_run.pk), str(foreign.pk)], "post": "yes"}
    client.post(reverse("admin:history_run_changelist"), data)
    assert not Run.objects.filter(pk=ended_run.pk).exists()
    assert Run.objects.filter(pk=foreign.pk).exists()  # not in the editor's queryset at all


def test_it_limits_staff_to_their_teams(client, staff, ended_run, other_team):
    foreign = RunFactory(job=JobFactory(team=other_team, natural_id="globex-job"))
    client.force_login(staff("viewer"))
    body = client.get(reverse("admin:history_run_changelist")).content.decode()
    assert str(ended_run.pk) in body
    assert str(foreign.pk) not in body
    assert "globex" not in body  # nor in the team and job filters
    assert client.get(reverse("admin:history_run_change", args=[foreign.pk])).status_code == 302  # "doesn't exist"


def test_it_shows_a_superuser_every_team(client, ended_run, other_team):
    foreign = RunFactory(job=JobFactory(team=other_team))
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    body = client.get(reverse("admin:history_run_changelist")).content.decode()
    assert str(ended_run.pk) in body
    assert str(foreign.pk) in body


def test_it_filters_and_searches_runs(client, staff, job, ended_run):
    failed = RunFactory(job=job, end_reason="failed", error="connection refused")
    client.force_login(staff("viewer"))
    url = reverse("admin:history_run_changelist")
    body = client.get(url, {"end_reason__exact": "failed"}).content.decode()
    assert str(failed.pk) in body
    assert str(ended_run.pk) not in body
    body = client.get(url, {"q": "refused"}).content.decode()
    assert str(failed.pk) in body
    assert str(ended_run.pk) not in body


def test_it_runs_pauses_and_resumes_jobs_from_the_job_admin(client, staff, job):
    client.force_login(staff("editor"))
    url = reverse("admin:jobs_job_changelist")
    client.post(url, {"action": "pause", "_selected_action": [str(job.pk)]})
    job.refresh_from_db()
    assert job.enabled is False
    assert job.next_run_at is None
    client.post(url, {"action": "resume", "_selected_action": [str(job.pk)]})
    job.refresh_from_db()
    assert job.enabled is True
    assert job.next_run_at is not None
    client.post(url, {"action": "run_now", "_selected_action": [str(job.pk)]})
    assert Run.objects.filter(job=job, triggered_by="dashboard").count() == 1


def test_it_offers_a_viewer_no_job_actions_and_no_changes(client, staff, job):
    client.force_login(staff("viewer"))
    url = reverse("admin:jobs_job_changelist")
    body = client.get(url).content.decode()
    assert job.natural_id in body
    assert 'value="pause"' not in body
    assert 'value="run_now"' not in body
    client.post(url, {"action": "pause", "_selected_action": [str(job.pk)]})
    assert Job.objects.get(pk=job.pk).enabled is True
    assert client.post(reverse("admin:jobs_job_change", args=[job.pk]), {}).status_code == 403


def test_it_lets_an_operator_run_but_not_pause(client, staff, job):
    client.force_login(staff("operator"))
    url = reverse("admin:jobs_job_changelist")
    body = client.get(url).content.decode()
    assert 'value="run_now"' in body
    assert 'value="pause"' not in body


def _admin_change(client, job, **changes):
    url = reverse("admin:jobs_job_change", args=[job.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update(
        {
            "team": job.team_id,
            "variables": "{}",
            "secret_headers": "[]",
            "steps-TOTAL_FORMS": "0",
            "steps-INITIAL_FORMS": "0",
            **changes,
        }
    )
    return client.post(url, data)


def test_it_rejects_an_invalid_cron_in_the_job_admin(client, staff, job):
    client.force_login(staff("editor"))
    response = _admin_change(client, job, cron_expression="61 * * * *")
    assert response.status_code == 200
    assert "Invalid cron expression" in response.content.decode()
    assert Job.objects.get(pk=job.pk).cron_expression == "* * * * *"


def test_the_job_admin_gives_the_job_services_verdict_on_every_field(client, staff, job):
    client.force_login(staff("editor"))
    response = _admin_change(client, job, success_statuses="abc", success_body_regex="([")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) >= {"success_statuses", "success_body_regex"}
    job.refresh_from_db()
    assert (job.success_statuses, job.success_body_regex) == ("200-299", "")


def test_it_keeps_the_system_periodic_tasks_in_the_beat_admin(client, db):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    body = client.get(reverse("admin:django_celery_beat_periodictask_changelist")).content.decode()
    for name in ("dispatch", "reap", "prune"):
        assert name in body
