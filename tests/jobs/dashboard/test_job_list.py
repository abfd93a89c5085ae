"""The jobs list: schedule in words, next run, last status, sparkline, 7-day success; search, filters, paging."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from jobs.models import Job
from tests.dashboard_support import make_runs
from tests.factories import JobFactory, MembershipFactory, TeamFactory, UserFactory

LIST = reverse("jobs:list")


def _names(body: str) -> list[str]:
    return re.findall(r'class="name" href="[^"]+">([^<]+)</a>', body)


def test_it_shows_each_jobs_summary(as_user, viewer, job):
    make_runs(job, 25, duration_ms=100)
    make_runs(job, 1, end_reason="failed", duration_ms=300)  # the newest
    body = as_user(viewer).get(LIST).content.decode()
    assert "Nightly report" in body
    assert "Every minute (UTC)" in body
    assert re.search(r'<time datetime="[^"]+"', body)  # next run, in UTC for the browser to localise
    assert 'class="badge failed"' in body  # last status
    sparkline = re.search(r'<svg class="spark".*?</svg>', body, re.S).group(0)
    assert sparkline.count("<rect") == 20
    assert sparkline.count('class="failure"') == 1
    assert "96.2%" in body  # 25 of 26 in the last 7 days


def test_it_searches_by_name_or_id(as_user, viewer, team, job):
    JobFactory(team=team, natural_id="backup", name="Backup the DB")
    client = as_user(viewer)
    assert _names(client.get(LIST, {"q": "backup"}).content.decode()) == ["Backup the DB"]
    assert _names(client.get(LIST, {"q": "nightly"}).content.decode()) == ["Nightly report"]


def test_it_filters_paused_and_failing_jobs(as_user, viewer, team, job):
    paused = JobFactory(team=team, natural_id="paused", name="Paused one", enabled=False)
    failing = JobFactory(team=team, natural_id="failing", name="Failing one")
    recovered = JobFactory(team=team, natural_id="recovered", name="Recovered one")
    make_runs(failing, 2, end_reason="failed")
    make_runs(recovered, 1, end_reason="failed")
    make_runs(recovered, 1, end_reason="success")
    client = as_user(viewer)
    assert _names(client.get(LIST, {"state": "paused"}).content.decode()) == [paused.name]
    assert _names(client.get(LIST, {"state": "failing"}).content.decode()) == [failing.name]


def test_it_tells_an_editor_how_to_create_the_first_job(as_user, editor):
    body = as_user(editor).get(LIST).content.decode()
    assert "No jobs yet" in body
    assert reverse("jobs:create") in body


def test_it_tells_a_viewer_that_an_editor_creates_jobs(as_user, viewer):
    body = as_user(viewer).get(LIST).content.decode()
    assert "No jobs yet" in body
    assert reverse("jobs:create") not in body


def test_it_pages_and_keeps_the_search(as_user, viewer, team):
    for index in range(30):
        JobFactory(team=team, natural_id=f"sync-{index:02}", name=f"Sync {index:02}")
    client = as_user(viewer)
    first = client.get(LIST, {"q": "sync"}).content.decode()
    assert len(_names(first)) == 25
    assert "?q=sync&amp;page=2" in first
    second = client.get(LIST, {"q": "sync", "page": 2}).content.decode()
    assert _names(second) == [f"Sync {index:02}" for index in range(25, 30)]


def test_it_switches_teams(as_user, viewer, team, job):
    other = TeamFactory(slug="initech", name="Initech")
    MembershipFactory(team=other, user=viewer, role="editor")
    JobFactory(team=other, natural_id="tps", name="TPS reports")
    client = as_user(viewer)
    body = client.get(LIST).content.decode()
    assert 'id="team-switch"' in body
    response = client.post(reverse("jobs:team-switch"), {"team": "initech"})
    assert response.status_code == 302
    assert _names(client.get(LIST).content.decode()) == ["TPS reports"]
    assert client.post(reverse("jobs:team-switch"), {"team": "globex"}).status_code == 404


@pytest.mark.parametrize("jobs", [1, 25])
def test_it_needs_the_same_queries_for_1_or_25_jobs_with_history(
    as_user, viewer, team, jobs, django_assert_max_num_queries
):
    for index in range(jobs):
        job = JobFactory(team=team, natural_id=f"job-{index}")
        make_runs(job, 30)
    client = as_user(viewer)
    # session, user, memberships, teams, count, jobs page, their calendars, the jobs they follow, recent runs,
    # success rates
    with django_assert_max_num_queries(10):
        response = client.get(LIST)
    assert len(_names(response.content.decode())) == jobs
    assert Job.objects.count() == jobs


def test_it_tells_a_user_without_a_team_how_to_join_one(client, db):
    client.force_login(UserFactory(username="newcomer"))
    body = client.get(LIST).content.decode()
    assert "You are not in a team yet" in body
    assert "addmember &lt;team&gt; newcomer" in body
    assert client.get(reverse("jobs:create")).status_code == 404
