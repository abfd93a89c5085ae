"""Creating and editing jobs: one form for one request, steps for more; errors on the fields, nothing saved."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.urls import reverse

from jobs.models import Job
from tests.jobs.dashboard.forms_support import job_form as _form

CREATE = reverse("jobs:create")
PREVIEW = reverse("jobs:schedule-preview")


def _field_errors(body: str, field_id: str) -> str:
    match = re.search(rf'<ul class="errorlist" id="{field_id}_errors">(.*?)</ul>', body, re.S)
    return match.group(1) if match else ""


def test_it_shows_one_request_by_default(as_user, editor):
    body = as_user(editor).get(CREATE).content.decode()
    assert 'name="steps-TOTAL_FORMS" value="1"' in body
    assert 'id="steps" class=""' in body  # one request: step names and order stay hidden
    assert 'hx-get="' + PREVIEW in body


def test_it_creates_a_one_request_job(as_user, editor, team):
    response = as_user(editor).post(CREATE, _form())
    job = Job.objects.get(team=team, natural_id="billing-sync")
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:detail", kwargs={"job_id": job.pk})
    assert job.timezone == "Europe/Berlin"
    assert job.next_run_at is not None
    assert job.overlap_policy == "forbid"
    assert job.variables == {"region": "eu"}
    assert job.secret_headers == ["X-Api-Token"]
    assert job.created_by == editor
    (step,) = job.steps.all()
    assert step.config["url"] == "https://example.com/sync"


def test_it_creates_a_job_with_several_steps(as_user, editor, team):
    steps = [
        {"name": "fetch", "url": "https://example.com/a"},
        {
            "name": "post",
            "method": "POST",
            "url": "https://example.com/b",
            "depends_on": "fetch",
            "headers": "Content-Type: application/json",
            "body": '{"a": 1}',
        },
    ]
    assert as_user(editor).post(CREATE, _form(steps)).status_code == 302
    job = Job.objects.get(team=team, natural_id="billing-sync")
    fetch, post = job.steps.all()
    assert (fetch.name, post.name) == ("fetch", "post")
    assert post.depends_on == ["fetch"]
    assert post.config["headers"] == {"Content-Type": "application/json"}


def test_it_puts_errors_on_the_fields_and_saves_nothing(as_user, editor):
    data = _form(cron_expression="61 * * * *", timezone="Mars/Olympus")
    data["steps-0-url"] = "ftp://example.com"
    response = as_user(editor).post(CREATE, data)
    body = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was saved." in body
    assert "Invalid cron expression" in _field_errors(body, "id_cron_expression")
    assert "absolute http:// or https:// URL" in _field_errors(body, "id_steps-0-url")
    assert 'value="ftp://example.com"' in body  # what was typed is kept
    assert not Job.objects.exists()


def test_it_reports_a_step_cycle_and_a_taken_id(as_user, editor, job):
    steps = [
        {"name": "a", "url": "https://x.test/", "depends_on": "b"},
        {"name": "b", "url": "https://x.test/", "depends_on": "a"},
    ]
    body = as_user(editor).post(CREATE, _form(steps)).content.decode()
    assert "Steps: Steps form a dependency cycle: a, b." in body
    body = as_user(editor).post(CREATE, _form(natural_id=job.natural_id)).content.decode()
    assert "already exists" in _field_errors(body, "id_natural_id")
    assert Job.objects.count() == 1


def test_it_edits_a_job_and_recomputes_the_next_run(as_user, editor, job):
    client = as_user(editor)
    form = client.get(reverse("jobs:edit", kwargs={"job_id": job.pk})).content.decode()
    assert f'value="{job.natural_id}"' in form
    assert 'value="http://127.0.0.1:9/report"' in form
    data = _form(natural_id=job.natural_id, name="Renamed", schedule_kind="interval", interval_seconds=3600)
    response = client.post(reverse("jobs:edit", kwargs={"job_id": job.pk}), data)
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.name == "Renamed"
    assert job.schedule_kind == "interval"
    assert job.interval_seconds == 3600
    assert job.steps.get().config["url"] == "https://example.com/sync"


def test_it_leaves_a_job_unchanged_when_the_edit_is_invalid(as_user, editor, job):
    data = _form(natural_id=job.natural_id, name="Renamed", cron_expression="nope")
    response = as_user(editor).post(reverse("jobs:edit", kwargs={"job_id": job.pk}), data)
    assert response.status_code == 400
    job.refresh_from_db()
    assert job.name == "Nightly report"
    assert job.cron_expression == "* * * * *"


def test_it_previews_a_cron_schedule_in_its_timezone(as_user, editor):
    params = {"schedule_kind": "cron", "cron_expression": "0 2 * * *", "timezone": "Europe/Berlin"}
    body = as_user(editor).get(PREVIEW, params).content.decode()
    assert "At 02:00 (Europe/Berlin)" in body
    times = [datetime.fromisoformat(t) for t in re.findall(r'<time datetime="([^"]+)"', body)]
    assert len(times) == 5
    assert {t.astimezone(UTC).hour for t in times} <= {0, 1}  # 02:00 in Berlin is 00:00 or 01:00 UTC


def test_it_previews_intervals_and_one_offs(as_user, editor):
    client = as_user(editor)
    body = client.get(PREVIEW, {"schedule_kind": "interval", "interval_seconds": "90"}).content.decode()
    assert "Every 90 seconds" in body
    assert body.count("<time") == 5
    body = client.get(PREVIEW, {"schedule_kind": "once", "run_at": "2099-01-01T09:00", "timezone": "UTC"}).content
    assert b"Once at 2099-01-01 09:00:00 (UTC)" in body


def test_it_explains_a_bad_schedule_and_hints_at_an_empty_one(as_user, editor):
    client = as_user(editor)
    body = client.get(PREVIEW, {"schedule_kind": "cron", "cron_expression": "* * *"}).content.decode()
    assert 'data-preview="invalid"' in body
    assert "must have 5 fields" in body
    assert 'data-preview="hint"' in client.get(PREVIEW, {"schedule_kind": "cron"}).content.decode()
