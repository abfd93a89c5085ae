"""Export and "delete all matching": every run the table's filter matches, not only the page on screen."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from history.models import Run
from jobs.models import AuditEntry
from tests.dashboard_support import make_runs
from tests.factories import JobFactory, RunFactory

FEED_EXPORT = reverse("history:runs-export")
FEED_DELETE = reverse("history:runs-delete-matching")


def _job_url(name: str, job) -> str:
    return reverse(f"history:{name}", kwargs={"job_id": job.pk})


def _download(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_the_feed_exports_every_run_the_filter_matches_as_csv(as_user, viewer, job, other_team):
    other_job = JobFactory(team=job.team, natural_id="weekly")
    failed = [*make_runs(job, 30, end_reason=Run.EndReason.FAILED), *make_runs(other_job, 2, end_reason="failed")]
    make_runs(job, 4)  # successes: not in the filter
    make_runs(JobFactory(team=other_team), 2, end_reason="failed")  # another team's
    response = as_user(viewer).get(FEED_EXPORT, {"format": "csv", "end_reason": "failed"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="acme-runs.csv"'
    rows = list(csv.DictReader(io.StringIO(_download(response))))
    assert {row["id"] for row in rows} == {str(run.pk) for run in failed}  # all 32, not the page's 25
    assert {row["endReason"] for row in rows} == {"failed"}


def test_a_jobs_page_exports_its_filter_as_ndjson_in_the_tables_order(as_user, viewer, job):
    runs = make_runs(job, 3, http_status=503)
    make_runs(job, 2, http_status=200)
    make_runs(JobFactory(team=job.team), 2, http_status=503)  # another job of the team
    response = as_user(viewer).get(
        _job_url("job-runs-export", job), {"format": "ndjson", "http": "5xx", "sort": "created_at"}
    )
    assert response["Content-Disposition"] == 'attachment; filename="nightly-report-history.ndjson"'
    items = [json.loads(line) for line in _download(response).splitlines()]
    assert [item["id"] for item in items] == [str(run.pk) for run in runs]  # oldest first, as sorted


def test_the_table_links_its_exports_with_the_current_filter(as_user, viewer, job):
    make_runs(job, 2)
    body = as_user(viewer).get(reverse("jobs:detail", kwargs={"job_id": job.pk}), {"status": "ended"}).content.decode()
    assert f'href="{_job_url("job-runs-export", job)}?status=ended&amp;format=csv"' in body
    assert "Delete all matching" not in body  # a viewer cannot delete


def test_export_refuses_an_unknown_format_or_a_bad_filter(as_user, viewer, job):
    client = as_user(viewer)
    assert client.get(FEED_EXPORT, {"format": "xml"}).status_code == 400
    assert client.get(FEED_EXPORT, {"status": "nope"}).status_code == 400


def test_delete_all_matching_counts_then_deletes_every_match_and_keeps_running_runs(as_user, editor, job, running_run):
    failed = make_runs(job, 30, end_reason=Run.EndReason.FAILED)
    kept = make_runs(job, 3)  # successes
    other = make_runs(JobFactory(team=job.team), 2, end_reason=Run.EndReason.FAILED)  # another job's: the feed's
    client = as_user(editor)
    url = _job_url("job-runs-delete-matching", job)

    confirm = client.get(url, {"status": "ended", "end_reason": "failed"})
    body = confirm.content.decode()
    assert "Delete 30 runs of Nightly report?" in body
    assert Run.objects.filter(pk__in=[r.pk for r in failed]).count() == 30  # asking deletes nothing
    until = re.search(r'name="until" value="([^"]+)"', body).group(1)

    done = client.post(url, {"status": "ended", "end_reason": "failed", "until": until}, follow=True)
    assert "Deleted 30 runs matching the filter." in done.content.decode()
    assert done.redirect_chain[0][0].startswith(reverse("jobs:detail", kwargs={"job_id": job.pk}) + "?")
    assert not Run.objects.filter(pk__in=[r.pk for r in failed]).exists()
    assert Run.objects.filter(pk__in=[r.pk for r in (*kept, *other, running_run)]).count() == 6
    assert AuditEntry.objects.get(action="run.bulk_delete").details == {"count": 30}


def test_the_confirmation_says_running_runs_are_kept(as_user, editor, job, running_run):
    make_runs(job, 2)
    body = as_user(editor).get(_job_url("job-runs-delete-matching", job)).content.decode()
    assert "Delete 2 runs of Nightly report?" in body
    assert "1 still pending or running will be kept" in body
    done = as_user(editor).post(
        _job_url("job-runs-delete-matching", job),
        {"until": re.search(r'name="until" value="([^"]+)"', body).group(1)},
        follow=True,
    )
    assert "Kept 1 that was still pending or running when counted." in done.content.decode()
    assert list(Run.objects.values_list("pk", flat=True)) == [running_run.pk]


def test_runs_that_start_after_the_count_are_not_deleted(as_user, editor, job):
    make_runs(job, 3)
    client = as_user(editor)
    body = client.get(FEED_DELETE).content.decode()
    until = re.search(r'name="until" value="([^"]+)"', body).group(1)
    late = RunFactory(job=job)  # created after the page was shown, ended by the time of the POST
    client.post(FEED_DELETE, {"until": until})
    assert list(Run.objects.values_list("pk", flat=True)) == [late.pk]


def test_the_feed_deletes_across_jobs_of_the_team_only(as_user, editor, job, other_team):
    mine = [*make_runs(job, 2), *make_runs(JobFactory(team=job.team), 2)]
    theirs = make_runs(JobFactory(team=other_team), 2)
    client = as_user(editor)
    body = client.get(FEED_DELETE).content.decode()
    assert "Delete 4 runs of Acme's jobs?" in body
    client.post(FEED_DELETE, {"until": re.search(r'name="until" value="([^"]+)"', body).group(1)})
    assert not Run.objects.filter(pk__in=[r.pk for r in mine]).exists()
    assert Run.objects.filter(pk__in=[r.pk for r in theirs]).count() == 2


@pytest.mark.parametrize("persona", ["viewer", "operator"])
def test_roles_that_cannot_delete_get_403(request, as_user, job, persona):
    make_runs(job, 2)
    client = as_user(request.getfixturevalue(persona))
    for url in (FEED_DELETE, _job_url("job-runs-delete-matching", job)):
        assert client.get(url).status_code == 403
        assert client.post(url, {"until": "2100-01-01T00:00:00+00:00"}).status_code == 403
    assert Run.objects.count() == 2


def test_an_outsider_gets_404_for_another_teams_job(as_user, outsider, job):
    make_runs(job, 2)
    client = as_user(outsider)
    assert client.get(_job_url("job-runs-delete-matching", job)).status_code == 404
    assert (
        client.post(_job_url("job-runs-delete-matching", job), {"until": "2100-01-01T00:00:00+00:00"}).status_code
        == 404
    )
    assert client.get(_job_url("job-runs-export", job)).status_code == 404
    client.post(FEED_DELETE, {"until": "2100-01-01T00:00:00+00:00"})  # their own team's feed
    assert Run.objects.count() == 2


def test_an_editor_gets_the_delete_all_matching_link_with_the_filter(as_user, editor, job):
    make_runs(job, 2)
    body = as_user(editor).get(reverse("jobs:detail", kwargs={"job_id": job.pk}), {"status": "ended", "page": "1"})
    url = _job_url("job-runs-delete-matching", job)
    assert (
        f'href="{url}?status=ended" data-delete-matching>Delete all matching this filter…</a>' in body.content.decode()
    )


def test_a_run_that_was_running_at_the_count_is_kept_even_if_it_ended_since(as_user, editor, job, running_run):
    make_runs(job, 2)
    client = as_user(editor)
    url = _job_url("job-runs-delete-matching", job)
    until = re.search(r'name="until" value="([^"]+)"', client.get(url).content.decode()).group(1)
    Run.objects.filter(pk=running_run.pk).update(status="ended", end_reason="success", finished_at=timezone.now())
    done = client.post(url, {"until": until}, follow=True)
    assert (
        "Deleted 2 runs matching the filter. Kept 1 that was still pending or running when counted."
        in done.content.decode()
    )
    assert list(Run.objects.values_list("pk", flat=True)) == [running_run.pk]


def test_a_filtered_table_counts_to_its_cap_then_says_so(as_user, viewer, job):
    from history.selectors import FILTERED_COUNT_CAP
    from tests.api_support import insert_ended_runs

    insert_ended_runs(job, FILTERED_COUNT_CAP + 1, http_status=500)
    page = as_user(viewer).get(reverse("jobs:detail", kwargs={"job_id": job.pk}), {"http": "5xx", "page": 41})
    text = re.sub(r"\s+", " ", page.content.decode())
    assert f"The filter matches {FILTERED_COUNT_CAP}+ runs" in text
    assert "Page 41 of 41+" in text  # the 1,001st run, past the 40 counted pages of 25


def test_the_run_feed_counts_a_search_among_failures_like_the_api(as_user, viewer, job):
    from history.selectors import FILTERED_COUNT_CAP
    from tests.api_support import insert_ended_runs

    insert_ended_runs(job, FILTERED_COUNT_CAP + 1, end_reason="failed", response_body="upstream down")
    insert_ended_runs(job, 3, end_reason="failed", response_body="refused", start="2025-01-01")
    client = as_user(viewer)
    for text, shown in (("upstream", f"{FILTERED_COUNT_CAP}+ runs"), ("refused", "3 runs")):
        page = client.get(reverse("history:runs"), {"end_reason": "failed", "q": text})
        assert f"The filter matches {shown}" in re.sub(r"\s+", " ", page.content.decode()), text
