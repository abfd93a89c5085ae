"""The run table's "Started" column and the run page's title show when the run started, not when its row was made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.urls import reverse

from history.models import Run
from tests.factories import RunFactory

CREATED = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
SCHEDULED = datetime(2026, 3, 1, 9, 30, 0, tzinfo=UTC)
STARTED = datetime(2026, 3, 1, 10, 15, 7, tzinfo=UTC)


def _run(job, **fields) -> Run:
    run = RunFactory(job=job, scheduled_for=SCHEDULED, **fields)
    Run.objects.filter(pk=run.pk).update(created_at=CREATED)  # a retry's row is made when the attempt before it ends
    return run


def _pages(client, job, run) -> tuple[str, str]:
    table = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    row = table[table.index(f'id="run-{run.pk}"') :]
    row = row[: row.index("</tr>")]
    detail = client.get(reverse("history:run-detail", kwargs={"run_id": run.pk})).content.decode()
    title = detail[detail.index("<h1>") : detail.index("</h1>")]
    return row, title


def test_it_shows_the_start_time_in_the_table_and_the_title(as_user, editor, job):
    run = _run(job, started_at=STARTED, finished_at=STARTED + timedelta(seconds=1))
    row, title = _pages(as_user(editor), job, run)
    for shown in (row, title):
        assert 'datetime="2026-03-01T10:15:07+00:00"' in shown
        assert "2026-03-01T09:00:00" not in shown
    assert "started 2026-03-01 10:15:07 UTC" in row  # the checkbox's label


def test_it_labels_a_run_that_has_not_started_with_its_due_time(as_user, viewer, job):
    run = _run(job, status=Run.Status.PENDING, end_reason="", not_before=SCHEDULED + timedelta(minutes=5))
    row, title = _pages(as_user(viewer), job, run)
    for shown in (row, title):
        assert "not started · due" in shown
        assert 'datetime="2026-03-01T09:35:00+00:00"' in shown
        assert "2026-03-01T09:00:00" not in shown


def test_it_says_a_skipped_run_never_started(as_user, viewer, job):
    run = _run(job, end_reason="skipped")
    row, title = _pages(as_user(viewer), job, run)
    for shown in (row, title):
        assert "never started · was due" in shown
        assert 'datetime="2026-03-01T09:30:00+00:00"' in shown
