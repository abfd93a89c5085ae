"""Traces: a W3C `traceparent` on every outbound request, and OpenTelemetry spans when asked for.

Every request a run sends carries `traceparent: 00-<trace id>-<parent id>-01`. The trace id is the
run's id (its 32 hex digits), so one run is one trace and the trace is found from the run; each
step's request gets a parent id of its own. That header is all there is unless
OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: then `setup` (called when
an engine is made, which the writer is part of, and on each dispatcher tick) builds an OpenTelemetry
SDK tracer provider for the process, exporting over OTLP/HTTP in batches, and
- the dispatcher emits a span per tick (`hourglass.dispatch`, the run ids it created);
- the executor a span per run (`hourglass.run`, trace id = the run's id, `hourglass.run_id`), with a
  child per step (`hourglass.step`) and, under it, aiohttp's client span per HTTP request
  (opentelemetry-instrumentation-aiohttp-client, which then sets `traceparent` from that span);
- the result writer a span per batch (`hourglass.write`), linked to the runs' spans.
Without the variable no tracer provider, exporter or instrumentation is imported or built, and the engine's only
cost is the header.
The standard OTEL_* variables (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*, headers,
timeouts) apply as the SDK reads them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.engine.plans import RunPlan, StepPlan, StepResult
    from jobs.engine.results import RunWrite

logger = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
MAX_ID_ATTRIBUTES = 1000  # run ids listed on a dispatch or write span

ENABLED = False
_provider: Any = None
_tracer: Any = None
_checked = False
_lock = threading.Lock()
# The trace id the next root span takes (a run's), read by the provider's id generator.
_next_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("hourglass_trace_id", default=None)
_NULL = contextlib.nullcontext()


def trace_id_of(run_id: str) -> str:
    """A run's trace id: its UUID's 32 hex digits."""
    return uuid.UUID(str(run_id)).hex


def traceparent(trace_id: str) -> str:
    """A W3C traceparent (version 00, sampled) in `trace_id`, with a new parent id."""
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"


def random_traceparent() -> str:
    return traceparent(os.urandom(16).hex())


def endpoint() -> str:
    return next((os.environ[name] for name in ENDPOINT_VARIABLES if os.environ.get(name)), "")


def setup() -> bool:
    """Build the tracer provider once per process if an OTLP endpoint is configured; whether tracing is on."""
    global _checked
    if _checked:
        return ENABLED
    with _lock:
        if not _checked:
            if endpoint():
                try:
                    _configure()
                except Exception:
                    logger.exception("OpenTelemetry could not be set up; tracing stays off")
            _checked = True
    return ENABLED


def _configure() -> None:
    global ENABLED, _provider, _tracer
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class RunTraceIds(RandomIdGenerator):
        """A root span started for a run takes the run's id as its trace id."""

        def generate_trace_id(self) -> int:
            wanted = _next_trace_id.get()
            return wanted if wanted else super().generate_trace_id()

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "hourglass"})
    provider = TracerProvider(resource=resource, id_generator=RunTraceIds())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _provider, _tracer = provider, provider.get_tracer("hourglass")
    ENABLED = True
    logger.info("OpenTelemetry traces go to %s", endpoint())


def flush(timeout_s: float = 10.0) -> bool:
    """Export the spans still buffered (tests; a process about to exit)."""
    return bool(_provider.force_flush(int(timeout_s * 1000))) if _provider is not None else True


def reset() -> None:
    """Flush and drop the provider; the next `setup` reads the environment again (tests)."""
    global ENABLED, _provider, _tracer, _checked
    with _lock:
        if _provider is not None:
            _provider.shutdown()
        ENABLED, _provider, _tracer, _checked = False, None, None, False


def session_trace_configs() -> list[Any]:
    """aiohttp trace configs for the engine's session: the client span per request, when tracing is on."""
    if not ENABLED:
        return []
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    # Query strings and user info may hold secrets: the span shows scheme, host and path only.
    return [create_trace_config(url_filter=_public_url, tracer_provider=_provider)]


def _public_url(url: Any) -> str:
    return str(url.with_user(None).with_query(None).with_fragment(None))


# --- spans ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _run_span(plan: RunPlan) -> Iterator[Any]:
    from opentelemetry import context, trace

    token = _next_trace_id.set(int(trace_id_of(plan.run_id), 16))
    try:
        span = _tracer.start_span(
            "hourglass.run",
            context=context.Context(),  # a root: its trace is the run's
            kind=trace.SpanKind.INTERNAL,
            attributes={
                "hourglass.run_id": plan.run_id,
                "hourglass.job_id": plan.job_id,
                "hourglass.job": plan.job_natural_id,
                "hourglass.team": plan.team_slug,
                "hourglass.attempt": plan.attempt,
                "hourglass.scheduled_for": plan.scheduled_for.isoformat(),
            },
        )
    finally:
        _next_trace_id.reset(token)
    with trace.use_span(span, end_on_exit=True, record_exception=False):
        yield span


def run_span(plan: RunPlan) -> contextlib.AbstractContextManager[Any]:
    """The span of one run, current while its steps run (None inside when tracing is off)."""
    return _run_span(plan) if ENABLED else _NULL


def end_run(span: Any, end_reason: str) -> Any:
    """Record the run's end on its span; returns the span's context, for the writer's link."""
    if span is None:
        return None
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("hourglass.end_reason", end_reason)
    if end_reason != "success":
        span.set_status(Status(StatusCode.ERROR, end_reason))
    return span.get_span_context()


@contextlib.contextmanager
def _step_span(plan: RunPlan, step: StepPlan, result: StepResult) -> Iterator[Any]:
    from opentelemetry import trace

    attributes = {
        "hourglass.run_id": plan.run_id,
        "hourglass.step": step.name,
        "hourglass.step.kind": step.kind,
    }
    with _tracer.start_as_current_span(
        "hourglass.step", kind=trace.SpanKind.INTERNAL, attributes=attributes, record_exception=False
    ) as span:
        try:
            yield span
        finally:
            span.set_attribute("hourglass.step.status", result.status)
            if result.http_status is not None:
                span.set_attribute("http.response.status_code", result.http_status)
            if result.exit_code is not None:
                span.set_attribute("hourglass.step.exit_code", result.exit_code)
            if result.status == "error":
                span.set_status(trace.Status(trace.StatusCode.ERROR, result.error or "error"))


def step_span(plan: RunPlan, step: StepPlan, result: StepResult) -> contextlib.AbstractContextManager[Any]:
    return _step_span(plan, step, result) if ENABLED else _NULL


@contextlib.contextmanager
def _dispatch_span() -> Iterator[list[Any]]:
    """Recorded once the tick is over, and only for a tick that created runs: an idle tick every
    second would be noise."""
    from opentelemetry import context

    created: list[Any] = []
    started = time.time_ns()
    try:
        yield created
    finally:
        if created:
            span = _tracer.start_span(
                "hourglass.dispatch",
                context=context.Context(),
                start_time=started,
                attributes={
                    "hourglass.runs": len(created),
                    "hourglass.run_ids": [str(run_id) for run_id in created[:MAX_ID_ATTRIBUTES]],
                },
            )
            span.end()


def dispatch_span() -> contextlib.AbstractContextManager[list[Any] | None]:
    """A tick's span; the dispatcher appends the ids of the runs it created to the list it yields."""
    return _dispatch_span() if setup() else _NULL


@contextlib.contextmanager
def _write_span(writes: list[RunWrite]) -> Iterator[Any]:
    from opentelemetry import context, trace

    ended = [w for w in writes if w.outcome is not None]
    links = [trace.Link(w.outcome.span_context) for w in ended if w.outcome and w.outcome.span_context]
    attributes = {
        "hourglass.runs": len(writes),
        "hourglass.runs_ended": len(ended),
        "hourglass.run_ids": [w.plan.run_id for w in writes[:MAX_ID_ATTRIBUTES]],
    }
    with _tracer.start_as_current_span(
        "hourglass.write", context=context.Context(), links=links, attributes=attributes
    ) as span:
        yield span


def write_span(writes: Iterable[RunWrite]) -> contextlib.AbstractContextManager[Any]:
    return _write_span(list(writes)) if ENABLED else _NULL
