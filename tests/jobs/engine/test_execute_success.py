from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from history.models import Run
from tests.jobs.engine.execute_support import execute, http_config, make_job, make_run, steps_of


@pytest.mark.django_db(transaction=True)
def test_it_records_a_successful_run(team, target):
    run = execute(make_run(make_job(team, target.url("/ok"))))

    assert run.status == Run.Status.ENDED
    assert run.end_reason == Run.EndReason.SUCCESS
    assert (run.http_status, run.exit_code, run.error) == (200, 0, None)
    assert run.response_body == '{"ok": true}'
    assert run.started_at
    assert run.finished_at
    assert run.duration_ms is not None
    assert run.lateness_ms is not None
    assert run.lateness_ms >= 0
    assert run.worker
    assert run.request["method"] == "GET"
    assert run.request["url"] == target.url("/ok")
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


@pytest.mark.django_db(transaction=True)
def test_it_accepts_the_statuses_the_job_lists(team, target):
    run = execute(make_run(make_job(team, target.url("/status/404"), success_statuses="200-299,404")))

    assert (run.end_reason, run.http_status, run.exit_code) == ("success", 404, 0)


@pytest.mark.django_db(transaction=True)
def test_it_fails_a_200_whose_body_lacks_the_expected_text(team, target):
    run = execute(make_run(make_job(team, target.url("/ok"), success_body_contains="healthy")))

    assert (run.end_reason, run.http_status, run.exit_code) == ("failed", 200, 1)
    assert run.error == "Body does not contain 'healthy'"
    assert not Run.objects.filter(retry_of=run).exists()  # a body mismatch is not worth a retry


@pytest.mark.django_db(transaction=True)
def test_it_checks_the_body_against_the_regex(team, target):
    ok = execute(make_run(make_job(team, target.url("/ok"), success_body_regex=r'"ok":\s*true')))
    bad = execute(make_run(make_job(team, target.url("/ok"), success_body_regex=r"^nope")))

    assert ok.end_reason == "success"
    assert (bad.end_reason, bad.error) == ("failed", "Body does not match /^nope/")


@pytest.mark.django_db(transaction=True)
def test_it_fails_a_response_slower_than_the_latency_bound(team, target):
    run = execute(make_run(make_job(team, target.url("/delay/300"), success_max_latency_ms=100)))

    assert run.end_reason == "failed"
    assert run.error.startswith("Too slow: ")


@pytest.mark.django_db(transaction=True)
def test_it_records_lateness_against_the_slot(team, target):
    slot = timezone.now() - timedelta(seconds=5)
    run = execute(make_run(make_job(team, target.url("/ok")), scheduled_for=slot))

    assert 5000 <= run.lateness_ms < 15000


@pytest.mark.django_db(transaction=True)
def test_it_leases_the_run_for_its_step_timeouts_plus_the_grace(team, target, settings):
    settings.HOURGLASS_LEASE_GRACE_SECONDS = 45
    job = make_job(
        team,
        target.url("/ok"),
        main_config={"timeout_ms": 4000},
        steps=[{"name": "second", "config": http_config(target.url("/ok"), timeout_ms=6000), "depends_on": ["main"]}],
    )
    run = execute(make_run(job))

    assert run.lease_expires_at - run.started_at == timedelta(seconds=4 + 6 + 45)
