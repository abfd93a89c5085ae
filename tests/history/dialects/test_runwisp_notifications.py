"""RunWisp's notifications (runwisp-openapi.json listNotifications): a run that succeeded with a warning is a
notification of severity `warn`, newest first, paged with `before`, within the caller's teams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from history.dialects.runwisp_notifications import cursor_of, ulid_of
from tests.api_support import make_runs
from tests.factories import JobFactory
from tests.history.dialects.conftest import runwisp_schema, validate

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _warned(job, count: int, *, at=T0, kind="duration", message="Took 2,000 ms, outside 0 ms–120 ms."):
    runs = make_runs(job, count, warnings=True, warning_kind=kind, warning=message)
    for index, run in enumerate(runs):
        run.finished_at = at + timedelta(milliseconds=index * 1000, microseconds=index)
        run.save(update_fields=["finished_at"])
    return runs


def _list(client, query: str = "") -> dict:
    response = client.get(f"/api/notifications{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    validate(body, runwisp_schema("NotificationsListBody"))
    return body


def test_a_warned_run_is_a_warn_notification(as_user, viewer, job):
    [run] = _warned(job, 1)
    make_runs(job, 2)  # plain successes: no notification
    [item] = _list(as_user(viewer))["items"]
    assert (item["kind"], item["severity"], item["task_name"], item["run_id"]) == (
        "run.warning",
        "warn",
        job.natural_id,
        str(run.pk),
    )
    assert item["body"] == "Took 2,000 ms, outside 0 ms–120 ms."
    assert (item["count"], item["occurrences"], item["created_at"]) == (
        1,
        ["2025-03-01T12:00:00Z"],
        "2025-03-01T12:00:00Z",
    )
    assert "read_at" not in item


def test_they_come_newest_first_and_page_with_before(as_user, viewer, job):
    runs = _warned(job, 5)
    client = as_user(viewer)
    first = _list(client, "?limit=2")
    assert [i["run_id"] for i in first["items"]] == [str(runs[4].pk), str(runs[3].pk)]
    second = _list(client, f"?limit=2&before={first['next_cursor']}")
    third = _list(client, f"?limit=2&before={second['next_cursor']}")
    assert [i["run_id"] for i in second["items"] + third["items"]] == [str(r.pk) for r in reversed(runs[:3])]
    assert third["next_cursor"] == ""
    ids = [i["id"] for i in first["items"] + second["items"] + third["items"]]
    assert ids == sorted(ids, reverse=True)


def test_runs_that_ended_in_the_same_microsecond_page_by_id(as_user, viewer, job):
    runs = make_runs(job, 4, warnings=True, warning_kind="size", warning="bigger")
    for run in runs:
        run.finished_at = T0
        run.save(update_fields=["finished_at"])
    client = as_user(viewer)
    seen = []
    query = "?limit=1"
    for _ in range(4):
        body = _list(client, query)
        seen += [i["run_id"] for i in body["items"]]
        query = f"?limit=1&before={body['next_cursor']}"
    assert sorted(seen) == sorted(str(r.pk) for r in runs)
    assert seen == sorted(seen, reverse=True)


def test_an_id_names_its_place(job):
    [run] = _warned(job, 1)
    at, smallest = cursor_of(ulid_of(run.finished_at, run.pk))
    assert at == run.finished_at
    assert smallest <= run.pk
    assert smallest.int >> 58 == run.pk.int >> 58


def test_another_teams_warnings_are_not_listed(as_user, outsider, job):
    _warned(job, 2)
    assert _list(as_user(outsider))["items"] == []


def test_a_bad_cursor_is_a_problem(as_user, viewer):
    response = as_user(viewer).get("/api/notifications?before=nope")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    validate(body, runwisp_schema("ErrorModel"))
    assert [e["location"] for e in body["errors"]] == ["query.before"]


@pytest.mark.parametrize("cursor", ["7weJKpT711jGksyzWY0Q2eRCJy", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"])
def test_a_cursor_past_every_run_lists_from_the_newest(as_user, viewer, job, cursor):
    runs = _warned(job, 2)
    assert [i["run_id"] for i in _list(as_user(viewer), f"?before={cursor}")["items"]] == [
        str(runs[1].pk),
        str(runs[0].pk),
    ]


def test_an_id_that_no_run_has_sorts_after_its_millisecond(job):
    [run] = _warned(job, 1)
    ulid = ulid_of(run.finished_at, run.pk)
    value = 0
    for char in ulid:
        value = value << 5 | "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(char)
    beyond = (value | (1023 << 70)) & ~((1 << 70) - 1)  # the microsecond field at 1023, no run bits
    text = "".join("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(beyond >> shift) & 31] for shift in range(125, -1, -5))
    at, smallest = cursor_of(text)
    assert at == run.finished_at.replace(microsecond=0) + timedelta(milliseconds=1)
    assert smallest.int == 0


@pytest.mark.parametrize("limit", ["501", "0", ""])
def test_a_limit_out_of_range_or_empty_is_a_problem(as_user, viewer, limit):
    answer = as_user(viewer).get(f"/api/notifications?limit={limit}")
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("application/problem+json")


def test_jobs_of_several_teams_the_caller_is_in(as_user, viewer, job, other_team):
    from tests.factories import MembershipFactory

    MembershipFactory(team=other_team, user=viewer, role="viewer")
    theirs = JobFactory(team=other_team, natural_id="theirs")
    _warned(job, 1)
    _warned(theirs, 1, at=T0 + timedelta(hours=1))
    assert [i["task_name"] for i in _list(as_user(viewer))["items"]] == ["theirs", job.natural_id]
