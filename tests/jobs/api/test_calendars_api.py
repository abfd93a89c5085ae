"""Team calendars over the API (read: job:read; write: job:edit; outsiders 404), and a job's `calendars` field,
checked by the job write service: an unknown calendar is an error on body.calendars."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from jobs.calendar_services import attach_calendars, calendar_write
from jobs.models import AuditEntry, Calendar, Job, JobCalendar

pytestmark = pytest.mark.django_db

URL = "/api/teams/acme/calendars"
HOLIDAYS = {
    "name": "us-holidays",
    "description": "Federal holidays",
    "holidays": [{"country": "US", "subdivision": "NY"}],
    "dates": ["2026-12-24", "2026-12-28/2026-12-31"],
    "windows": [{"days": ["sun"], "start": "02:00", "end": "04:00", "timezone": "America/New_York"}],
}


def _locations(response) -> list[str]:
    assert response["Content-Type"] == "application/problem+json", response.content
    return [error["location"] for error in response.json()["errors"]]


def test_an_editor_creates_reads_changes_and_deletes_a_calendar(as_user, editor):
    client = as_user(editor)
    created = client.post(URL, HOLIDAYS, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert {key: body[key] for key in HOLIDAYS} == HOLIDAYS
    assert body["ownerId"] == "team:acme"
    assert body["jobs"] == []
    assert body["summary"] == (
        "public holidays of US-NY; 2026-12-24, 2026-12-28…2026-12-31; Sun 02:00–04:00 America/New_York"
    )
    assert client.get(URL).json()["calendars"][0]["id"] == body["id"]
    assert client.get(f"{URL}/us-holidays").json()["id"] == body["id"]
    assert client.get(f"{URL}/{body['id']}").json()["name"] == "us-holidays"

    changed = client.patch(f"{URL}/us-holidays", {"name": "holidays", "dates": []}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["name"], changed.json()["dates"], changed.json()["holidays"]) == (
        "holidays",
        [],
        HOLIDAYS["holidays"],
    )
    assert client.delete(f"{URL}/holidays").status_code == 204
    assert not Calendar.objects.exists()
    actions = list(AuditEntry.objects.filter(action__startswith="calendar.").values_list("action", flat=True))
    assert sorted(actions) == ["calendar.create", "calendar.delete", "calendar.update"]


@pytest.mark.parametrize(("role", "write"), [("viewer", 403), ("operator", 403), ("editor", 201), ("owner", 201)])
def test_members_read_and_editors_write(request, as_user, team, role, write):
    calendar_write(team=team, fields={"name": "existing"})
    client = as_user(request.getfixturevalue(role))
    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}/existing").status_code == 200
    assert client.post(URL, {"name": "new"}, format="json").status_code == write
    ok = write == 201
    assert client.patch(f"{URL}/existing", {"description": "x"}, format="json").status_code == (200 if ok else 403)
    assert client.delete(f"{URL}/existing").status_code == (204 if ok else 403)


def test_outsiders_get_404_and_change_nothing(as_user, outsider, team):
    calendar = calendar_write(team=team, fields={"name": "existing"})
    client = as_user(outsider)
    assert client.get(URL).status_code == 404
    assert client.get(f"{URL}/existing").status_code == 404
    assert client.post(URL, {"name": "new"}, format="json").status_code == 404
    assert client.patch(f"{URL}/{calendar.pk}", {"description": "x"}, format="json").status_code == 404
    assert client.delete(f"{URL}/{calendar.pk}").status_code == 404
    assert list(Calendar.objects.values_list("name", "description")) == [("existing", "")]


def test_keys_need_read_to_list_and_edit_to_write(as_key, owner, team):
    calendar_write(team=team, fields={"name": "existing"})
    assert as_key(["job:read"], created_by=owner).get(URL).status_code == 200
    assert as_key(["job:read"], created_by=owner).post(URL, {"name": "n"}, format="json").status_code == 403
    assert as_key(["job:run"], created_by=owner).get(URL).status_code == 403
    assert as_key(["job:edit"], created_by=owner).post(URL, {"name": "n"}, format="json").status_code == 201


def test_every_bad_rule_is_reported_at_once_on_its_field(as_user, editor, team):
    calendar_write(team=team, fields={"name": "taken"})
    response = as_user(editor).post(
        URL,
        {
            "name": "taken",
            "holidays": [{"country": "XX"}, {"country": "DE", "subdivision": "ZZ"}],
            "dates": ["2026-02-30", "2026-12-31/2026-12-01"],
            "windows": [{"days": ["someday"], "start": "25:00", "end": "04:00", "timezone": "Mars/Base"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(_locations(response)) == {
        "body.name",
        "body.holidays[0].country",
        "body.holidays[1].subdivision",
        "body.dates[0]",
        "body.dates[1]",
        "body.windows[0].days",
        "body.windows[0].start",
        "body.windows[0].timezone",
    }
    assert Calendar.objects.count() == 1


def test_unknown_fields_are_refused(as_user, editor):
    response = as_user(editor).post(
        URL,
        {"name": "x", "country": "US", "windows": [{"days": ["sun"], "start": "01:00", "end": "02:00", "tz": "UTC"}]},
        format="json",
    )
    assert response.status_code == 400
    assert set(_locations(response)) == {"body.country", "body.windows[0].tz"}


def test_a_calendar_in_use_cannot_be_deleted(as_user, editor, team, job):
    calendar_write(team=team, fields={"name": "closed"})
    attach_calendars(job, [{"calendar": "closed", "mode": "exclude"}])
    response = as_user(editor).delete(f"{URL}/closed")
    assert response.status_code == 409
    assert response.json()["jobs"] == ["nightly-report"]
    assert Calendar.objects.filter(name="closed").exists()


# --- a job's calendars --------------------------------------------------------------------------


def _job_payload(**extra) -> dict:
    return {
        "naturalId": "report",
        "schedule": {"kind": "cron", "expression": "30 23 * * *", "timezone": "America/New_York"},
        "request": {"url": "https://example.com/report"},
        **extra,
    }


def test_a_job_attaches_calendars_by_name_or_id_and_reads_them_back(as_user, editor, team):
    holidays = calendar_write(team=team, fields={"name": "us-holidays", "holidays": [{"country": "US"}]})
    calendar_write(
        team=team, fields={"name": "weekdays", "windows": [{"days": ["mon-fri"], "start": "00:00", "end": "24:00"}]}
    )
    payload = _job_payload(
        calendars=[{"calendar": str(holidays.pk), "mode": "exclude"}, {"calendar": "weekdays", "mode": "only"}]
    )
    response = as_user(editor).post("/api/jobs", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["calendars"] == [
        {"calendar": "us-holidays", "mode": "exclude"},
        {"calendar": "weekdays", "mode": "only"},
    ]
    assert body["schedule"]["description"] == (
        "At 23:30 (America/New_York), skipping slots in calendar us-holidays, only in calendar weekdays"
    )
    job = Job.objects.get(natural_id="report")
    assert list(JobCalendar.objects.filter(job=job).values_list("calendar__name", "mode", "position")) == [
        ("us-holidays", "exclude", 0),
        ("weekdays", "only", 1),
    ]
    # A change without `calendars` keeps them; an empty list detaches them.
    assert (
        as_user(editor).patch(f"/api/jobs/{job.pk}", {"name": "Report"}, format="json").json()["calendars"]
        == body["calendars"]
    )
    cleared = as_user(editor).patch(f"/api/jobs/{job.pk}", {"calendars": []}, format="json")
    assert cleared.json()["calendars"] == []
    entry = AuditEntry.objects.filter(action="job.update").first()
    assert entry.details["changes"]["calendars"]["new"] == []


def test_an_unknown_calendar_or_mode_is_a_field_error_and_nothing_is_saved(as_user, editor, team, other_team):
    calendar_write(team=other_team, fields={"name": "theirs"})  # another team's calendar is unknown here
    response = as_user(editor).post(
        "/api/jobs", _job_payload(calendars=[{"calendar": "theirs", "mode": "exclude"}]), format="json"
    )
    assert response.status_code == 400
    assert _locations(response) == ["body.calendars"]
    assert "No calendar 'theirs' in team 'acme'" in response.json()["errors"][0]["message"]
    bad_mode = as_user(editor).post(
        "/api/jobs", _job_payload(calendars=[{"calendar": "theirs", "mode": "sometimes"}]), format="json"
    )
    assert "body.calendars[0].mode" in _locations(bad_mode)
    assert not Job.objects.exists()


def test_an_unknown_field_of_an_attachment_or_an_unknown_calendar_path_is_refused(as_user, editor, team):
    calendar_write(team=team, fields={"name": "closed"})
    response = as_user(editor).post(
        "/api/jobs", _job_payload(calendars=[{"calendar": "closed", "mode": "exclude", "from": "x"}]), format="json"
    )
    assert response.status_code == 400
    assert "body.calendars[0].from" in _locations(response)
    assert as_user(editor).patch(f"{URL}/ghost", {"description": "x"}, format="json").status_code == 404
    assert not Job.objects.exists()


def test_the_same_calendar_twice_is_refused(as_user, editor, team):
    calendar_write(team=team, fields={"name": "closed"})
    twice = [{"calendar": "closed", "mode": "exclude"}, {"calendar": "closed", "mode": "only"}]
    response = as_user(editor).post("/api/jobs", _job_payload(calendars=twice), format="json")
    assert response.status_code == 400
    assert _locations(response) == ["body.calendars"]


def test_fire_times_mark_the_slots_a_calendar_removes(as_user, viewer, team):
    calendar_write(team=team, fields={"name": "us-holidays", "holidays": [{"country": "US"}]})
    job = Job.objects.create(
        team=team, natural_id="eod", name="eod", cron_expression="30 23 * * *", timezone="America/New_York"
    )
    attach_calendars(job, [{"calendar": "us-holidays", "mode": "exclude"}])
    with time_machine.travel(datetime(2026, 12, 23, 12, 0, tzinfo=UTC), tick=False):
        body = as_user(viewer).get(f"/api/jobs/{job.pk}/fire-times?count=4").json()
    assert body["slots"] == [
        {"at": "2026-12-24T04:30:00Z", "removedBy": None},  # 23 December, 23:30 in New York
        {"at": "2026-12-25T04:30:00Z", "removedBy": None},  # 24 December: not a holiday there, though the 25th in UTC
        {"at": "2026-12-26T04:30:00Z", "removedBy": "calendar:us-holidays"},  # Christmas Day in New York
        {"at": "2026-12-27T04:30:00Z", "removedBy": None},
    ]
    assert body["fireTimes"] == ["2026-12-24T04:30:00Z", "2026-12-25T04:30:00Z", "2026-12-27T04:30:00Z"]
    assert body["nextFireAt"] == "2026-12-24T04:30:00Z"
    assert "skipping slots in calendar us-holidays" in body["description"]


def test_next_fire_at_looks_past_the_slots_an_only_calendar_removes(as_user, viewer, team):
    calendar_write(team=team, fields={"name": "new-year", "dates": ["2027-01-01"]})
    job = Job.objects.create(team=team, natural_id="hourly", name="hourly", cron_expression="0 * * * *")
    attach_calendars(job, [{"calendar": "new-year", "mode": "only"}])
    with time_machine.travel(datetime(2026, 12, 31, 12, 0, tzinfo=UTC), tick=False):
        body = as_user(viewer).get(f"/api/jobs/{job.pk}/fire-times?count=3").json()
    assert [slot["removedBy"] for slot in body["slots"]] == ["calendar:new-year"] * 3
    assert body["fireTimes"] == []
    assert body["nextFireAt"] == "2027-01-01T00:00:00Z"


def test_deleting_a_job_detaches_its_calendars_and_a_team_takes_its_calendars_along(as_user, editor, team, job):
    calendar_write(team=team, fields={"name": "closed"})
    attach_calendars(job, [{"calendar": "closed", "mode": "exclude"}])
    assert as_user(editor).delete(f"/api/jobs/{job.pk}").status_code == 204
    assert not JobCalendar.objects.exists()
    assert Calendar.objects.filter(name="closed").exists()
    other = Job.objects.create(team=team, natural_id="other", name="other")
    attach_calendars(other, [{"calendar": "closed", "mode": "only"}])
    team.delete()  # the calendar is held by a job of the same team: both go
    assert not Calendar.objects.exists()
    assert not JobCalendar.objects.exists()
