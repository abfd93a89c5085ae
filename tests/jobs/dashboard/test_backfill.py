"""The Backfill dialog: the slot count (and slots that already have a run) before confirming, then the runs;
an operator may, a viewer may not, an outsider sees nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from history.models import Run
from jobs.write import job_write
from tests.factories import RunFactory

pytestmark = pytest.mark.django_db
MAIN = [{"name": "main", "config": {"url": "https://example.com/"}}]
RANGE = {"start": "2026-03-28T00:00", "end": "2026-03-30T23:00", "rate": "5"}


@pytest.fixture
def job(team):
    return job_write(
        team=team,
        fields={"natural_id": "nightly", "cron_expression": "30 2 * * *", "timezone": "Europe/Berlin"},
        steps=MAIN,
    )


def test_it_counts_the_slots_then_creates_them(client, operator, job):
    RunFactory(job=job, team=job.team, scheduled_for=datetime(2026, 3, 28, 1, 30, tzinfo=UTC), attempt=1)
    client.force_login(operator)
    url = reverse("jobs:backfill", kwargs={"job_id": job.pk})
    page = client.get(url, RANGE).content.decode()
    assert "3 slots</strong> in the range: 2 new runs, 1 already has a run." in page
    assert "Create 2 runs" in page
    assert Run.objects.filter(job=job).count() == 1  # counting creates nothing
    response = client.post(url, RANGE)
    assert response.status_code == 302
    runs = Run.objects.filter(job=job, triggered_by="backfill").order_by("scheduled_for")
    assert [run.scheduled_for for run in runs] == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 02:30 did not exist: 03:00 CEST
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]


def test_a_range_in_the_future_is_marked_on_its_field(client, operator, job):
    client.force_login(operator)
    url = reverse("jobs:backfill", kwargs={"job_id": job.pk})
    page = client.get(url, {**RANGE, "end": "2099-01-01T00:00"}).content.decode()
    assert "past slots only" in page
    assert "Create" not in page


def test_roles(client, viewer, outsider, job):
    url = reverse("jobs:backfill", kwargs={"job_id": job.pk})
    client.force_login(viewer)
    assert client.get(url).status_code == 403
    assert client.post(url, RANGE).status_code == 403
    client.force_login(outsider)
    assert client.get(url, RANGE).status_code == 404
    assert not Run.objects.filter(job=job).exists()
