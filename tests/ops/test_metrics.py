"""GET /metrics: who may scrape it, and the engine's figures it exposes after real work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from history.models import Run
from history.services import run_cancel
from jobs import metrics
from jobs.engine.dispatch import dispatch
from jobs.engine.reaper import reap
from jobs.models import Job
from tests.factories import JobFactory, RunFactory
from tests.jobs.engine.dispatch_support import T0, Published, at, interval_job
from tests.jobs.engine.execute_support import execute, make_job, make_run
from tests.ops.support import delta, scrape, this_process, value

FAMILIES = [
    "hourglass_runs_ended_total",
    "hourglass_run_lateness_seconds_count",
    "hourglass_run_duration_seconds_count",
    "hourglass_dispatch_runs_per_tick_count",
    "hourglass_dispatch_lag_seconds_count",
    "hourglass_runs_pending",
    "hourglass_runs_running",
    "hourglass_dispatch_behind_seconds",
]


@pytest.mark.django_db
def test_it_refuses_a_scrape_without_the_token(client, settings):
    settings.HOURGLASS_METRICS_TOKEN = "s3cret-metrics-token"

    missing = client.get("/metrics")  # from 127.0.0.1: the token outranks the network rule
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")

    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert b"Authorization: Bearer" in missing.content
    assert b"s3cret" not in wrong.content
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE hourglass_runs_pending gauge" in right.content


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.20", "::1", "::ffff:10.0.0.1"])
def test_it_serves_private_networks_when_no_token_is_set(client, settings, address):
    settings.HOURGLASS_METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "not-an-address"])
def test_it_refuses_public_clients_when_no_token_is_set(client, settings, address):
    settings.HOURGLASS_METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 403
    assert b"private networks only" in response.content


@pytest.mark.django_db
def test_it_only_answers_get(client):
    assert client.post("/metrics").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_it_counts_and_times_runs_wherever_their_results_are_written(team, target, client):
    before = this_process()
    # The executor, through aiohttp against the local target.
    execute(make_run(make_job(team, target.url("/ok"))))
    execute(make_run(make_job(team, target.url("/status/500"))))
    # The dispatcher: ten minutes of a 60 s job beyond its grace -> one `missed` (plus one
    # catch-up); a `forbid` job whose previous run is still pending -> `skipped`.
    interval_job(team, 60, misfire_grace_seconds=60)
    busy = interval_job(team, 3600, overlap_policy=Job.Overlap.FORBID, next_run_at=at(600))
    RunFactory(job=busy, scheduled_for=T0, status=Run.Status.PENDING, end_reason="")
    created = dispatch(at(600), publisher=Published())
    # The reaper: a running run whose lease has expired -> `crashed`.
    now = timezone.now()
    RunFactory(
        job=busy, scheduled_for=at(1), status="running", end_reason="", started_at=now - timedelta(seconds=90),
        lease_expires_at=now - timedelta(seconds=1),
    )  # fmt: skip
    assert reap(now, publisher=Published())["crashed"] == 1
    # A pending run cancelled through the service the API and dashboard call -> `stopped`.
    run_cancel(run=make_run(make_job(team, target.url("/ok"))), by=None)

    after = this_process()
    ended = {reason: delta(after, before, "hourglass_runs_ended_total", end_reason=reason) for reason in Run.EndReason}
    assert ended == {
        "success": 1, "failed": 1, "missed": 1, "skipped": 1, "crashed": 1, "stopped": 1,
        "timeout": 0, "blocked": 0, "log_overflow": 0,
    }  # fmt: skip
    # Durations of the two executed runs and the crashed one; lateness of the two that started.
    assert delta(after, before, "hourglass_run_duration_seconds_count") == 3
    assert delta(after, before, "hourglass_run_lateness_seconds_count") == 2
    assert created == 3  # missed, its catch-up, skipped
    assert delta(after, before, "hourglass_dispatch_runs_per_tick_count") == 1
    assert delta(after, before, "hourglass_dispatch_runs_per_tick_sum") == created
    assert delta(after, before, "hourglass_dispatch_lag_seconds_count") == 1
    assert delta(after, before, "hourglass_dispatch_lag_seconds_sum") == 600  # T0 claimed at T0 + 600 s

    exposed = scrape(client)
    names = {name for name, _ in exposed}
    assert set(FAMILIES) <= names
    for reason in ("success", "failed", "missed", "skipped", "crashed", "stopped"):
        # The scrape merges every process's files, so it holds at least what this one recorded.
        assert value(exposed, "hourglass_runs_ended_total", end_reason=reason) >= value(
            after, "hourglass_runs_ended_total", end_reason=reason
        )
    assert value(exposed, "hourglass_runs_pending") == Run.objects.filter(status=Run.Status.PENDING).count()


@pytest.mark.django_db
def test_it_reads_the_backlog_and_the_dispatch_delay_from_the_database(team, client, monkeypatch):
    job = JobFactory(team=team, next_run_at=timezone.now() - timedelta(seconds=120))
    JobFactory(team=team, next_run_at=timezone.now() - timedelta(hours=5), enabled=False)  # paused: not late
    for _ in range(3):
        RunFactory(job=job, status=Run.Status.PENDING, end_reason="")
    RunFactory(job=job, status=Run.Status.RUNNING, end_reason="")
    RunFactory(job=job)  # ended

    exposed = scrape(client)

    assert value(exposed, "hourglass_runs_pending") == 3
    assert value(exposed, "hourglass_runs_running") == 1
    assert 120 <= value(exposed, "hourglass_dispatch_behind_seconds") < 180
    monkeypatch.setattr(metrics, "BACKLOG_CAP", 2)
    assert value(scrape(client), "hourglass_runs_pending") == 2


@pytest.mark.django_db
def test_nothing_is_behind_when_every_slot_is_ahead(team, client):
    JobFactory(team=team, next_run_at=timezone.now() + timedelta(minutes=5))
    assert value(scrape(client), "hourglass_dispatch_behind_seconds") == 0
