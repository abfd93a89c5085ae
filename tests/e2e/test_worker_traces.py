"""A real worker (prefork pool, beat) with an OTLP endpoint exports its spans: the dispatcher's tick and the
run's span from the pool process, to a collector on 127.0.0.1; the target sees the run's trace id."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import wait_until
from tests.e2e.support import once_job, runs_of
from tests.otlp import start_collector

pytestmark = pytest.mark.e2e


@pytest.fixture
def collector():
    collector, server = start_collector()
    yield collector
    server.shutdown()


def test_a_worker_exports_the_dispatch_and_the_run_to_the_collector(start_worker, team, target, collector):
    worker = start_worker(OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint, OTEL_BSP_SCHEDULE_DELAY="200")
    job = once_job(team, target.url("/ok"))
    wait_until(lambda: runs_of(job, status="ended"), 20, "the run to end", worker)
    [run] = runs_of(job)

    def run_span():
        return [s for s in collector.named("hourglass.run") if s.attributes.get("hourglass.run_id") == str(run.pk)]

    wait_until(run_span, 15, "the run's span", worker)
    assert run_span()[0].trace_id == run.pk.hex
    wait_until(
        lambda: [s for s in collector.named("hourglass.dispatch") if str(run.pk) in s.attributes["hourglass.run_ids"]],
        15,
        "the dispatcher's span",
        worker,
    )
    # The trace flags the SDK sets: sampled, and (W3C level 2) a random trace id, which a run's UUID is.
    [request] = target.received("/ok")
    assert re.fullmatch(rf"00-{run.pk.hex}-[0-9a-f]{{16}}-0[13]", request.headers["traceparent"])
