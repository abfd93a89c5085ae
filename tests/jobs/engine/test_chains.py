"""Job chains on the real executor path: a run's final outcome (after its last retry) starts the jobs that follow
it, `on` success, failure or any; fan-in starts its job once per generation, only when every upstream ended so
within the window; a crash the reaper declares counts as a failure; a paused follower is not started."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from history.models import Run, RunLink
from jobs.engine.reaper import crash
from jobs.models import Job
from jobs.write import job_write
from tests.jobs.engine.execute_support import execute, make_job, make_run

pytestmark = pytest.mark.django_db(transaction=True)


def _follower(team, url: str, after: list[dict], **fields) -> Job:
    return job_write(
        team=team,
        fields={"natural_id": fields.pop("natural_id", "report"), "schedule_kind": "none", "after": after, **fields},
        steps=[{"name": "main", "config": {"url": url, "timeout_ms": 5000}}],
    )


def _chained(job: Job) -> list[Run]:
    return list(Run.objects.filter(job=job, triggered_by=Run.Trigger.CHAIN).order_by("created_at"))


def test_a_success_starts_the_job_that_follows_it_and_links_them(team, target):
    upstream = make_job(team, target.url("/ok"), natural_id="import")
    report = _follower(team, target.url("/ok"), [{"job": "import", "on": "success"}])
    done = execute(make_run(upstream))
    assert done.end_reason == "success"
    [started] = _chained(report)
    assert (started.status, started.attempt, started.published_at is not None) == ("pending", 1, True)
    link = RunLink.objects.get(run=started)
    assert (link.upstream_id, link.upstream_job_id, link.outcome) == (done.pk, upstream.pk, "success")
    # The started run runs like any other, and starts nothing of its own.
    assert execute(started).end_reason == "success"
    assert Run.objects.filter(triggered_by=Run.Trigger.CHAIN).count() == 1


def test_a_failure_does_not_start_a_job_that_waits_for_success(team, target):
    upstream = make_job(team, target.url("/status/404"), natural_id="import")
    report = _follower(team, target.url("/ok"), [{"job": "import", "on": "success"}])
    assert execute(make_run(upstream)).end_reason == "failed"
    assert _chained(report) == []


def test_on_failure_and_on_any(team, target):
    upstream = make_job(team, target.url("/status/404"), natural_id="import")
    on_failure = _follower(team, target.url("/ok"), [{"job": "import", "on": "failure"}], natural_id="alert")
    on_any = _follower(team, target.url("/ok"), [{"job": "import", "on": "any"}], natural_id="cleanup")
    execute(make_run(upstream))
    assert len(_chained(on_failure)) == len(_chained(on_any)) == 1
    upstream.steps.filter(name="main").update(config={"method": "GET", "url": target.url("/ok"), "timeout_ms": 5000})
    assert execute(make_run(upstream)).end_reason == "success"
    assert (len(_chained(on_failure)), len(_chained(on_any))) == (1, 2)


def test_a_failure_that_is_retried_starts_nothing_until_its_last_attempt(team, target):
    upstream = make_job(team, target.url("/status/503"), natural_id="import", retry_limit=1, backoff_base_seconds=0)
    alert = _follower(team, target.url("/ok"), [{"job": "import", "on": "failure"}], natural_id="alert")
    execute(make_run(upstream))
    assert _chained(alert) == []  # its retry is pending
    last = execute(Run.objects.get(job=upstream, attempt=2))
    [started] = _chained(alert)
    assert RunLink.objects.get(run=started).upstream_id == last.pk


def test_a_crash_the_reaper_declares_is_a_failure(team, target):
    upstream = make_job(team, target.url("/ok"), natural_id="import")
    alert = _follower(team, target.url("/ok"), [{"job": "import", "on": "failure"}], natural_id="alert")
    now = timezone.now()
    run = make_run(upstream)
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, started_at=now, lease_expires_at=now - timedelta(seconds=1)
    )
    assert crash(run.pk, now) == (True, False)
    [started] = _chained(alert)
    assert RunLink.objects.get(run=started).outcome == "crashed"


def test_a_paused_follower_is_not_started(team, target):
    upstream = make_job(team, target.url("/ok"), natural_id="import")
    report = _follower(team, target.url("/ok"), [{"job": "import"}], enabled=False)
    execute(make_run(upstream))
    assert _chained(report) == []


def _fan_in(team, target, within: int = 1800) -> Job:
    return _follower(
        team,
        target.url("/ok"),
        [{"job": "a", "on": "success"}, {"job": "b", "on": "success"}],
        natural_id="c",
        after_all=True,
        after_within_seconds=within,
    )


def test_fan_in_starts_once_both_have_succeeded_within_the_window(team, target):
    a, b = make_job(team, target.url("/ok"), natural_id="a"), make_job(team, target.url("/ok"), natural_id="b")
    c = _fan_in(team, target)
    first_a = execute(make_run(a))
    assert _chained(c) == []  # b has not run yet
    first_b = execute(make_run(b))
    [started] = _chained(c)
    assert set(RunLink.objects.filter(run=started).values_list("upstream_id", flat=True)) == {first_a.pk, first_b.pk}
    # A generation starts the job once: a's next run alone pairs with the b run already spent.
    second_a = execute(make_run(a))
    assert len(_chained(c)) == 1
    second_b = execute(make_run(b))
    assert len(_chained(c)) == 2
    assert set(RunLink.objects.filter(run=_chained(c)[1]).values_list("upstream_id", flat=True)) == {
        second_a.pk,
        second_b.pk,
    }


def test_fan_in_outside_the_window_starts_nothing(team, target):
    a, b = make_job(team, target.url("/ok"), natural_id="a"), make_job(team, target.url("/ok"), natural_id="b")
    c = _fan_in(team, target, within=600)
    early = execute(make_run(a))
    Run.objects.filter(pk=early.pk).update(finished_at=timezone.now() - timedelta(seconds=601))
    execute(make_run(b))
    assert _chained(c) == []
    # a ends again, now within 600 s of b: that completes the generation.
    execute(make_run(a))
    assert len(_chained(c)) == 1


def test_fan_in_waits_for_the_outcome_each_upstream_asks_for(team, target):
    a = make_job(team, target.url("/ok"), natural_id="a")
    b = make_job(team, target.url("/status/404"), natural_id="b")
    c = _fan_in(team, target)
    execute(make_run(a))
    execute(make_run(b))  # failed: c waits for b's success
    assert _chained(c) == []
