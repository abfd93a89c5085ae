"""The calendars page (list, create with its errors shown again, delete with a confirmation) and the job form's
calendar picker, whose choice is saved through the job write service and shown in the schedule preview."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import time_machine
from django.urls import reverse

from jobs.calendar_services import attach_calendars, calendar_write
from jobs.models import Calendar, Job
from tests.jobs.dashboard.forms_support import job_form

PAGE = reverse("jobs:calendars")
CREATE = reverse("jobs:create")
PREVIEW = reverse("jobs:schedule-preview")


def _field_errors(body: str, field_id: str) -> str:
    match = re.search(rf'<ul class="errorlist" id="{field_id}_errors">(.*?)</ul>', body, re.S)
    return match.group(1) if match else ""


def test_it_creates_a_calendar_from_the_forms_lines(as_user, editor, team):
    response = as_user(editor).post(
        PAGE,
        {
            "name": "closed",
            "holidays": "US-NY\nDE BY",
            "dates": "2026-12-24\n2026-12-28/2026-12-31",
            "windows": "Sun 02:00-04:00 Europe/Berlin",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    calendar = Calendar.objects.get(team=team)
    assert calendar.holidays == [{"country": "US", "subdivision": "NY"}, {"country": "DE", "subdivision": "BY"}]
    assert calendar.dates == ["2026-12-24", "2026-12-28/2026-12-31"]
    assert calendar.windows == [{"days": ["sun"], "start": "02:00", "end": "04:00", "timezone": "Europe/Berlin"}]
    body = as_user(editor).get(PAGE).content.decode()
    assert 'data-calendar="closed"' in body
    assert "Sun 02:00–04:00 Europe/Berlin" in body


def test_a_bad_calendar_is_shown_again_with_each_error_on_its_field(as_user, editor, team):
    response = as_user(editor).post(
        PAGE, {"name": "bad name", "holidays": "US\nXX", "dates": "2026-02-30", "windows": "whenever"}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Nothing was saved." in body
    assert "Write a window as" in _field_errors(body, "id_windows")
    assert 'value="bad name"' in body  # what was typed stays
    # The service's errors too, once what the form parses is right.
    response = as_user(editor).post(PAGE, {"name": "ok", "holidays": "US\nXX\nDE-ZZ", "dates": "2026-02-30"})
    body = response.content.decode()
    assert response.status_code == 400
    holidays = _field_errors(body, "id_holidays")
    assert "Line 2: No public holidays are known for &#x27;XX&#x27;." in holidays
    assert "Line 3: DE has no subdivision &#x27;ZZ&#x27;" in holidays
    assert "is not a date of the calendar" in _field_errors(body, "id_dates")
    assert not Calendar.objects.exists()


def test_viewers_see_calendars_but_cannot_create_or_delete(as_user, viewer, team):
    calendar = calendar_write(team=team, fields={"name": "closed"})
    client = as_user(viewer)
    body = client.get(PAGE).content.decode()
    assert 'data-calendar="closed"' in body
    assert 'id="calendar-new"' not in body
    assert client.post(PAGE, {"name": "new"}).status_code == 403
    delete = reverse("jobs:calendar-delete", kwargs={"calendar_id": calendar.pk})
    assert client.post(delete).status_code == 403
    assert Calendar.objects.count() == 1


def test_delete_asks_first_and_refuses_a_calendar_in_use(as_user, editor, team, job):
    used = calendar_write(team=team, fields={"name": "used"})
    unused = calendar_write(team=team, fields={"name": "unused"})
    attach_calendars(job, [{"calendar": "used", "mode": "exclude"}])
    client = as_user(editor)
    confirm = client.get(reverse("jobs:calendar-delete", kwargs={"calendar_id": unused.pk}))
    assert confirm.status_code == 200
    assert "Delete the calendar unused?" in confirm.content.decode()
    assert Calendar.objects.filter(pk=unused.pk).exists()
    client.post(reverse("jobs:calendar-delete", kwargs={"calendar_id": unused.pk}))
    refused = client.post(reverse("jobs:calendar-delete", kwargs={"calendar_id": used.pk}), follow=True)
    assert "is attached to nightly-report" in refused.content.decode()
    assert list(Calendar.objects.values_list("name", flat=True)) == ["used"]


def test_an_outsider_cannot_reach_another_teams_calendar(as_user, outsider, team):
    calendar = calendar_write(team=team, fields={"name": "closed"})
    client = as_user(outsider)
    assert client.post(reverse("jobs:calendar-delete", kwargs={"calendar_id": calendar.pk})).status_code == 404
    assert "closed" not in client.get(PAGE).content.decode()  # their own team's page


def test_the_job_form_picks_calendars_and_shows_them_picked_when_edited(as_user, editor, team):
    calendar_write(team=team, fields={"name": "us-holidays", "holidays": [{"country": "US"}]})
    calendar_write(
        team=team, fields={"name": "weekdays", "windows": [{"days": ["mon-fri"], "start": "00:00", "end": "24:00"}]}
    )
    client = as_user(editor)
    form = client.get(CREATE).content.decode()
    assert 'value="exclude:us-holidays"' in form
    assert 'value="only:weekdays"' in form
    data = job_form()
    data["calendars"] = ["exclude:us-holidays", "", "only:weekdays"]
    response = client.post(CREATE, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get(natural_id="billing-sync")
    assert job.calendars == [{"calendar": "us-holidays", "mode": "exclude"}, {"calendar": "weekdays", "mode": "only"}]
    edit = client.get(reverse("jobs:edit", kwargs={"job_id": job.pk})).content.decode()
    assert '<option value="exclude:us-holidays" selected>' in edit
    assert '<option value="only:weekdays" selected>' in edit
    detail = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert "skipping slots in calendar us-holidays, only in calendar weekdays" in detail


def test_an_unknown_calendar_in_the_form_is_an_error_on_the_picker(as_user, editor, team):
    data = job_form()
    data["calendars"] = ["exclude:ghost"]
    response = as_user(editor).post(CREATE, data)
    assert response.status_code == 400
    assert "No calendar &#x27;ghost&#x27; in team &#x27;acme&#x27;." in response.content.decode()
    assert not Job.objects.exists()


def test_the_preview_marks_the_slots_a_picked_calendar_removes(as_user, editor, team):
    calendar_write(team=team, fields={"name": "us-holidays", "holidays": [{"country": "US"}]})
    query = {
        "schedule_kind": "cron",
        "cron_expression": "30 23 * * *",
        "timezone": "America/New_York",
        "team": str(team.pk),
        "calendars": ["exclude:us-holidays"],
    }
    with time_machine.travel(datetime(2026, 12, 23, 12, 0, tzinfo=UTC), tick=False):
        body = as_user(editor).get(PREVIEW, query).content.decode()
    items = re.findall(r"<li(?: class=\"removed\" data-removed-by=\"([^\"]+)\")?>", body)
    assert items == ["", "", "calendar:us-holidays", "", ""]
    assert "skipped: calendar:us-holidays" in body
    assert "calendars: exclude us-holidays" in body


def test_the_job_page_marks_removed_slots(as_user, viewer, team):
    calendar_write(team=team, fields={"name": "us-holidays", "holidays": [{"country": "US"}]})
    job = Job.objects.create(
        team=team, natural_id="eod", name="eod", cron_expression="30 23 * * *", timezone="America/New_York"
    )
    attach_calendars(job, [{"calendar": "us-holidays", "mode": "exclude"}])
    with time_machine.travel(datetime(2026, 12, 23, 12, 0, tzinfo=UTC), tick=False):
        body = as_user(viewer).get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    fire_times = re.search(r'<ol class="fire-times">(.*?)</ol>', body, re.S).group(1)
    assert fire_times.count("<time") == 5
    assert fire_times.count('data-removed-by="calendar:us-holidays"') == 1


def test_editing_the_id_refreshes_the_preview(as_user, editor):
    """H is hashed from the ID: the preview's request fires when the ID field changes, too."""
    body = as_user(editor).get(CREATE).content.decode()
    trigger = re.search(r'id="schedule" hx-get="[^"]+" hx-trigger="([^"]+)"', body).group(1)
    assert "from:#id_natural_id" in trigger
