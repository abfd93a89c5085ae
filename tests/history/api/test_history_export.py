"""Export: CSV and NDJSON, streamed with filters and sort, and flat memory for 100k rows."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from history.api.export import CSV_FIELDS
from tests.api_support import add_step, insert_ended_runs, make_runs

pytestmark = pytest.mark.django_db


def _body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_csv_export(as_user, viewer, job):
    runs = make_runs(job, 3, http_status=200, error="=HYPERLINK(evil)")
    response = as_user(viewer).get(f"/api/jobs/{job.natural_id}/history/export?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="nightly-report-history.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert list(rows[0]) == list(CSV_FIELDS)
    assert [r["id"] for r in rows] == [str(r.pk) for r in reversed(runs)]
    assert rows[0]["httpStatus"] == "200"
    assert rows[0]["error"] == "'=HYPERLINK(evil)"  # a spreadsheet must not run it


def test_csv_writes_booleans_as_json_does(as_user, viewer, job):
    make_runs(job, 1, end_reason="failed", warnings=False)
    make_runs(job, 1, warnings=True)
    response = as_user(viewer).get(f"/api/jobs/{job.natural_id}/history/export?format=csv")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert [(row["success"], row["warnings"]) for row in rows] == [("true", "true"), ("false", "false")]


def test_ndjson_export_is_the_history_item(as_user, viewer, job):
    run = make_runs(job, 1)[0]
    add_step(run, message="fine")
    client = as_user(viewer)
    response = client.get(f"/api/jobs/{job.pk}/history/export?format=ndjson")
    assert response["Content-Type"].startswith("application/x-ndjson")
    lines = _body(response).splitlines()
    detail = client.get(f"/api/jobs/{job.pk}/history/{run.pk}").json()
    del detail["chain"]  # the detail's alone (two more queries per run)
    assert [json.loads(line) for line in lines] == [detail]


def test_export_applies_filters_and_sort(as_user, viewer, job):
    make_runs(job, 2, http_status=200)
    failed = make_runs(job, 3, http_status=502)
    body = _body(as_user(viewer).get(f"/api/jobs/{job.pk}/history/export?format=ndjson&httpStatus=5xx&sort=createdAt"))
    assert [json.loads(line)["id"] for line in body.splitlines()] == [str(r.pk) for r in failed]


def _peak_rss_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to reset the peak RSS")
def test_export_of_100k_rows_streams_in_flat_memory(as_user, viewer, job):
    rows = 100_000
    insert_ended_runs(job, rows, response_body="x" * 300)
    response = as_user(viewer).get(f"/api/jobs/{job.pk}/history/export?format=csv")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _peak_rss_kb()
    started = time.monotonic()
    lines = size = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        size += len(chunk)
    growth_mb = (_peak_rss_kb() - before) / 1024
    assert lines == rows + 1
    assert size > 45_000_000
    # Holding the export (>45 MB) or its rows as objects would show here; one chunk of the
    # iterator plus the buffers stays well below.
    assert growth_mb < 30, f"peak RSS grew {growth_mb:.1f} MB for {size / 1e6:.1f} MB exported"
    assert time.monotonic() - started < 60
