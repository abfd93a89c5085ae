"""Writing results: only runs still running are written, and a busy database is retried."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection

from history.models import Run
from jobs.engine.db import with_db_retry
from tests.jobs.engine.execute_support import execute, make_job, make_run, steps_of


@pytest.mark.django_db
def test_a_busy_database_is_retried_and_the_last_error_raised():
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("database is locked")
        return "written"

    assert with_db_retry(flaky, delay_s=0) == "written"
    assert len(calls) == 3

    def always_locked() -> None:
        raise OperationalError("database is locked")

    with pytest.raises(OperationalError):
        with_db_retry(always_locked, attempts=2, delay_s=0)


@pytest.mark.django_db(transaction=True)
def test_a_run_the_reaper_ended_meanwhile_keeps_the_reapers_verdict(team, target):
    run = make_run(make_job(team, target.url("/delay/600"), retry_limit=2))

    def reap_midway() -> None:
        time.sleep(0.3)
        try:
            Run.objects.filter(pk=run.pk, status="running").update(status="ended", end_reason="crashed")
        finally:
            connection.close()

    reaper = threading.Thread(target=reap_midway)
    reaper.start()
    run = execute(run)
    reaper.join()

    assert (run.status, run.end_reason, run.http_status) == ("ended", "crashed", None)
    main = steps_of(run)["main"]
    assert main.status in ("waiting", "running")  # interim progress at most, never the executor's result
    assert main.http_status is None
    assert not run.retries.exists()  # retrying a crash is the reaper's call, not the executor's
