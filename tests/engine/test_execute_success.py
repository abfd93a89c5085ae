from __future__ import annotations

import pytest

from history.models import Run
from tests.engine.execute_support import execute, make_job, make_run, steps_of


@pytest.mark.django_db(transaction=True)
def test_it_records_a_successful_run(team, target):
    run = execute(make_run(make_job(team, target.url("/ok"))))

    assert run.status == Run.Status.ENDED
    assert run.end_reason == Run.EndReason.SUCCESS
    assert (run.http_status, run.exit_code, run.error) == (200, 0, None)
    assert run.response_body == '{"ok": true}'
    assert run.started_at and run.finished_at and run.duration_ms is not None
    assert run.lateness_ms is not None and run.lateness_ms >= 0
    assert run.worker
    assert run.request["method"] == "GET" and run.request["url"] == target.url("/ok")
    main = steps_of(run)["main"]
    assert (main.status, main.key, main.opts, main.exit_code, main.http_status) == (
        "done",
        "job:progress.invoking_job",
        {"name": "main"},
        0,
        200,
    )
    assert main.result_key == "job:status.success"
    assert "returned 200" in main.message
    assert len(target.received("/ok")) == 1
    assert not Run.objects.filter(retry_of=run).exists()
