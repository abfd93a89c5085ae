"""A run still out already shows the request its target received, secrets redacted."""

from __future__ import annotations

import pytest

from history.models import Run
from tests.jobs.engine.execute_support import execute_watching, make_job, make_run


@pytest.mark.django_db(transaction=True)
def test_it_records_the_request_when_the_run_goes_out(team, target):
    job = make_job(
        team,
        target.url("/delay/2000"),
        secret_headers=["X-Api-Token"],
        main_config={"method": "POST", "headers": {"X-Api-Token": "s3cr3t"}, "body": '{"a": 1}'},
    )
    run = make_run(job)

    def running() -> dict | None:
        row = Run.objects.filter(pk=run.pk).values("status", "request").first()
        return row if row and row["status"] == Run.Status.RUNNING else None

    run, seen = execute_watching(run, running)

    assert seen is not None  # observed mid-run, from another connection
    assert seen["status"] == "running"
    request = seen["request"]
    assert request["method"] == "POST"
    assert request["url"] == target.url("/delay/2000")
    assert request["headers"]["X-Api-Token"] == "[redacted]"
    assert "s3cr3t" not in str(request)
    assert len(target.received("/delay/2000")) == 1
    assert run.end_reason == "success"
    assert run.request == request  # the end's write keeps the same record
