"""A one-off job that has fired reads "Done", with no Resume: resuming it would schedule nothing."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from tests.factories import JobFactory, RunFactory


def _once(team, *, at, enabled: bool) -> Job:
    return JobFactory(
        team=team,
        natural_id="launch",
        name="Launch mail",
        schedule_kind="once",
        cron_expression="",
        run_at=at,
        enabled=enabled,
        next_run_at=at if enabled else None,
    )


def test_a_fired_one_off_is_done_in_the_list_and_on_its_page(as_user, editor, team):
    job = _once(team, at=timezone.now() - timedelta(hours=1), enabled=False)  # as the dispatcher leaves it
    RunFactory(job=job, scheduled_for=job.run_at)
    client = as_user(editor)
    listing = client.get(reverse("jobs:list")).content.decode()
    assert '<span class="badge done">Done</span>' in listing
    assert 'class="badge paused"' not in listing
    page = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert '<span class="badge done">Done</span>' in page
    assert ">Resume</button>" not in page
    assert 'class="badge paused"' not in page
    assert "Done: this one-off's time has passed." in page


def test_resuming_a_fired_one_off_is_refused_with_a_reason(as_user, editor, team):
    job = _once(team, at=timezone.now() - timedelta(hours=1), enabled=False)
    client = as_user(editor)
    response = client.post(reverse("jobs:resume", kwargs={"job_id": job.pk}), follow=True)
    assert "has had its one run; edit its time to run it again." in response.content.decode()
    job.refresh_from_db()
    assert job.enabled is False


def test_a_paused_one_off_still_to_come_can_be_resumed(as_user, editor, team):
    job = _once(team, at=timezone.now() + timedelta(hours=1), enabled=False)
    client = as_user(editor)
    page = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert '<span class="badge paused">Paused</span>' in page
    assert ">Resume</button>" in page
    client.post(reverse("jobs:resume", kwargs={"job_id": job.pk}))
    job.refresh_from_db()
    assert job.enabled is True
    assert job.next_run_at == job.run_at


def test_the_paused_filter_leaves_out_fired_one_offs(as_user, editor, team):
    _once(team, at=timezone.now() - timedelta(hours=1), enabled=False)
    JobFactory(team=team, natural_id="held", name="Held job", enabled=False, next_run_at=None)
    listing = as_user(editor).get(reverse("jobs:list"), {"state": "paused"}).content.decode()
    assert "Held job" in listing
    assert "Launch mail" not in listing
