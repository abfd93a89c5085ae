"""Traces: every request a run sends carries a W3C traceparent in the run's trace; with an OTLP endpoint
set, the dispatcher, the executor (a span per run and per step) and the result writer export spans to it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from history.models import Run
from jobs.engine import tracing
from jobs.engine.dispatch import dispatch
from tests.jobs.engine.execute_support import execute, http_config, make_job, make_run
from tests.otlp import start_collector

TRACEPARENT = re.compile(r"^00-(?P<trace>[0-9a-f]{32})-(?P<parent>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})$")


def _two_step_job(team, target, **fields):
    return make_job(
        team,
        target.url("/ok?step=main"),
        steps=[{"name": "report", "config": http_config(target.url("/ok?step=report")), "depends_on": ["main"]}],
        **fields,
    )


def _parts(request) -> dict[str, str]:
    match = TRACEPARENT.match(request.headers["traceparent"])
    assert match is not None, request.headers.get("traceparent")
    return match.groupdict()


@pytest.fixture
def collector(monkeypatch):
    """An OTLP/HTTP collector on 127.0.0.1, and the engine pointed at it (tracing set up afresh)."""
    collector, server = start_collector()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "hourglass-test")
    tracing.reset()
    yield collector
    tracing.reset()
    server.shutdown()


@pytest.fixture
def untraced(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    tracing.reset()
    yield
    tracing.reset()


@pytest.mark.django_db(transaction=True)
def test_every_request_of_a_run_carries_a_traceparent_in_the_runs_trace(team, target, untraced):
    job = _two_step_job(team, target)
    first = execute(make_run(job))
    second = execute(make_run(job))

    received = target.received("/ok")
    assert len(received) == 4
    parts = [_parts(request) for request in received]
    assert {p["trace"] for p in parts[:2]} == {first.pk.hex}  # one trace id per run, its id
    assert {p["trace"] for p in parts[2:]} == {second.pk.hex}
    assert len({p["parent"] for p in parts}) == 4  # a parent id per step's request
    assert {p["flags"] for p in parts} == {"01"}
    assert all(p["parent"] != "0" * 16 for p in parts)
    # The run's request record has the header as sent, and tracing stayed off.
    assert first.request["headers"]["traceparent"] == received[0].headers["traceparent"]
    assert tracing.ENABLED is False


@pytest.mark.django_db(transaction=True)
def test_a_traceparent_set_on_the_job_is_replaced_by_the_runs(team, target, untraced):
    job = make_job(
        team, target.url("/ok"), main_config={"headers": {"TraceParent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}}
    )
    run = execute(make_run(job))
    [request] = target.received("/ok")
    assert _parts(request)["trace"] == run.pk.hex


@pytest.mark.django_db(transaction=True)
def test_the_executor_and_writer_export_a_span_per_run_and_per_step(team, target, collector):
    job = _two_step_job(team, target)
    run = execute(make_run(job))
    assert run.end_reason == "success"
    assert tracing.flush()

    [run_span] = [s for s in collector.wait_for("hourglass.run") if s.attributes["hourglass.run_id"] == str(run.pk)]
    assert run_span.trace_id == run.pk.hex
    assert run_span.parent_span_id == ""  # the root of the run's trace
    assert run_span.service == "hourglass-test"
    assert (run_span.attributes["hourglass.job"], run_span.attributes["hourglass.end_reason"]) == (
        job.natural_id,
        "success",
    )
    steps = [s for s in collector.wait_for("hourglass.step", 2) if s.trace_id == run.pk.hex]
    assert sorted(s.attributes["hourglass.step"] for s in steps) == ["main", "report"]
    assert {s.parent_span_id for s in steps} == {run_span.span_id}
    assert {s.attributes["hourglass.run_id"] for s in steps} == {str(run.pk)}
    assert {s.attributes["http.response.status_code"] for s in steps} == {200}
    # aiohttp's client span under each step, and the traceparent the target saw names it.
    clients = [
        s for s in collector.spans if s.trace_id == run.pk.hex and s.parent_span_id in {x.span_id for x in steps}
    ]
    assert len(clients) == 2
    received = target.received("/ok")
    assert {_parts(r)["trace"] for r in received} == {run.pk.hex}
    assert {_parts(r)["parent"] for r in received} == {s.span_id for s in clients}
    # The writer's batch span lists the run and links to its span.
    writes = [s for s in collector.wait_for("hourglass.write") if str(run.pk) in s.attributes["hourglass.run_ids"]]
    assert writes
    assert (run.pk.hex, run_span.span_id) in [link for span in writes for link in span.links]


@pytest.mark.django_db
def test_the_dispatcher_exports_a_span_per_tick_that_created_runs(team, target, collector):
    job = make_job(team, target.url("/ok"))
    now = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)  # clear of a minute boundary: one slot is due
    job.next_run_at = now - timedelta(seconds=1)
    job.save(update_fields=["next_run_at"])
    assert dispatch(now, publisher=lambda ids: None) >= 1
    assert dispatch(now + timedelta(milliseconds=1), publisher=lambda ids: None) == 0  # idle: no span
    assert tracing.flush()

    [span] = collector.wait_for("hourglass.dispatch")
    created = [str(pk) for pk in Run.objects.filter(job=job).values_list("pk", flat=True)]
    assert sorted(span.attributes["hourglass.run_ids"]) == sorted(created)
    assert span.attributes["hourglass.runs"] == len(created)
    assert span.parent_span_id == ""


def test_without_the_variable_no_sdk_is_set_up(tmp_path):
    """No SDK setup when the variable is unset: an engine and its session come up without a tracer provider,
    the exporter or the aiohttp instrumentation. (redis-py imports the OpenTelemetry API and metrics SDK for its
    own optional metrics whatever Hourglass does; tracing is not part of that.)"""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import asyncio, sys, django; django.setup()\n"
        "from jobs.engine import dispatch, results, tracing\n"
        "from jobs.engine.engine import Engine\n"
        "from jobs.engine.http import guarded_session\n"
        "engine = Engine()\n"
        "async def main():\n"
        "    await guarded_session(engine.policy, limit=1).close()\n"
        "asyncio.run(main())\n"
        "ours = ('opentelemetry.sdk.trace', 'opentelemetry.exporter', 'opentelemetry.instrumentation')\n"
        "print(tracing.ENABLED, tracing._provider, sorted(m for m in sys.modules if m.startswith(ours)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", HOURGLASS_VAR_DIR=str(tmp_path))
    env.pop("DATABASE_URL", None)
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False None []"
