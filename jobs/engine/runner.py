"""One run on the event loop: its steps in dependency order, honouring run_if; no ORM here."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from django.utils import timezone
from yarl import URL

from jobs import templating
from jobs.engine import anomaly, http, notify, plans, tracing
from jobs.engine.plans import OutboundRequest, RunOutcome, RunPlan, StepPlan, StepResult
from jobs.engine.retries import is_retryable
from jobs.engine.ssrf import TargetPolicy
from jobs.engine.success import STATUS_ONLY_2XX
from jobs.redact import redact_request, redact_url

logger = logging.getLogger(__name__)

_END_REASONS = {plans.TIMEOUT: "timeout", plans.BLOCKED: "blocked"}


@dataclass
class RunState:
    plan: RunPlan
    results: dict[str, StepResult] = field(default_factory=dict)
    stopping: bool = False  # cancellation was requested; the task is being cancelled
    stopped: bool = False  # the cancellation interrupted the run

    def __post_init__(self) -> None:
        for step in self.plan.steps:
            self.results.setdefault(step.name, StepResult(result_key=""))

    @property
    def failed(self) -> bool:
        return any(result.status == "error" for result in self.results.values())

    def cancel_unfinished(self) -> None:
        now = timezone.now()
        for result in self.results.values():
            if result.status in ("waiting", "running"):
                if result.status == "running" and result.started_at:
                    result.finished_at = now
                    result.duration_ms = max(0, round((now - result.started_at).total_seconds() * 1000))
                result.status, result.result_key = "canceled", "job:status.canceled"
                result.message = "Canceled: the run was stopped"


def skip_reason(step: StepPlan, state: RunState) -> str | None:
    """Why `step` must not run now, or None to run it. Steps come in dependency order."""
    if step.run_if == "always":
        return None
    if step.run_if == "on_failure":
        if state.failed:
            return None
        if step.kind in ("email", "webhook") and notify.recovers(step.config, state.plan.previous_failed):
            return None  # on_recovery: a notification step may run after a success
        return "Skipped: the run has not failed"
    for dependency in step.depends_on:
        result = state.results.get(dependency)
        if result is None or result.status != "done":
            return f"Skipped: dependency {dependency!r} did not succeed"
    return None


def _finish(result: StepResult, started: float, failure: str | None, error: str | None, message: str) -> None:
    result.finished_at = timezone.now()
    result.duration_ms = round((time.monotonic() - started) * 1000)
    result.failure, result.error, result.message = failure, error, message
    if failure is None:
        result.status, result.exit_code, result.result_key = "done", 0, "job:status.success"
    else:
        result.status, result.exit_code = "error", plans.EXIT_CODES[failure]
        result.result_key = plans.RESULT_KEYS.get(failure, "job:status.failed")


def render_request(
    step: StepPlan,
    context: Mapping[str, str],
    key: str,
    secret_headers: tuple[str, ...],
    *,
    ahead: bool = False,
    traceparent: str = "",
) -> OutboundRequest:
    """The step's request with `{{ name }}`s filled in; `ahead` also parses its URL for the send."""
    headers = {
        name: templating.render_header(str(value), context)
        for name, value in (step.config.get("headers") or {}).items()
    }
    url = templating.render(str(step.config.get("url") or ""), context)
    target, shown = None, ""
    if ahead:
        with contextlib.suppress(ValueError):  # a bad URL is the send's to report
            target = URL(url)
        shown = redact_url(url, secret_headers)
    return OutboundRequest(
        method=str(step.config.get("method") or "GET").upper(),
        url=url,
        # The main request's key is the slot's first run id (the same on every retry); other steps
        # get their own, since a target that dedupes on it must not take them for a replay.
        headers=http.standard_headers(headers, key if step.is_main else f"{key}:{step.name}", traceparent),
        body=templating.render(str(step.config.get("body") or ""), context).encode(),
        timeout_s=step.timeout_s,
        secret_headers=secret_headers,
        target=target,
        shown_url=shown,
    )


def build_request(step: StepPlan, plan: RunPlan) -> OutboundRequest:
    return render_request(
        step,
        plan.context,
        plan.idempotency_key or plan.run_id,
        plan.secret_headers,
        traceparent=tracing.traceparent(tracing.trace_id_of(plan.run_id)),
    )


def request_snapshot(request: OutboundRequest) -> dict[str, Any]:
    """The request as it is recorded on the run: secrets redacted."""
    snapshot = redact_request(
        {
            "method": request.method,
            "url": request.url,
            "headers": request.headers,
            "body": http.as_text(request.body),
            "timeout_ms": round(request.timeout_s * 1000),
        },
        request.secret_headers,
    )
    return snapshot


async def _send(
    step: StepPlan,
    plan: RunPlan,
    request: OutboundRequest,
    result: StepResult,
    started: float,
    session: aiohttp.ClientSession,
    policy: TargetPolicy,
) -> None:
    outcome = await http.send(
        session, request, policy=policy, follow_redirects=plan.follow_redirects, signing_secrets=plan.signing_secrets
    )
    result.http_status, result.response_body, result.retry_after = (
        outcome.http_status,
        outcome.body,
        outcome.retry_after,
    )
    result.response_bytes = outcome.response_bytes
    if step.is_main and plan.anomaly is not None and plan.anomaly.json_path and outcome.failure is None:
        result.json_type = anomaly.json_type_at(outcome.match_text, plan.anomaly.json_path)
    where = f"{request.method} {request.shown_url or redact_url(request.url, plan.secret_headers)}"
    if outcome.redirects:
        where += f" (redirected {len(outcome.redirects)}x to {redact_url(outcome.final_url, plan.secret_headers)})"
    if outcome.failure is not None:
        message = f"{where} failed after {outcome.latency_ms} ms: {outcome.detail or outcome.error}"
        _finish(result, started, outcome.failure, outcome.error, message)
        return
    if step.kind == "webhook":
        rule = STATUS_ONLY_2XX
    elif step.is_main:
        rule = plan.success
    else:  # the body and latency bounds describe the job's main request only
        rule = dataclasses.replace(plan.success, body_contains="", body_regex=None, max_latency_ms=None)
    status = outcome.http_status or 0
    error = rule.failure(status, outcome.match_text, outcome.latency_ms)
    message = f"{where} returned {status} in {outcome.latency_ms} ms" + (f": {error}" if error else "")
    _finish(result, started, plans.STATUS if error else None, error, message)


async def _run_step(step: StepPlan, state: RunState, session: aiohttp.ClientSession, policy: TargetPolicy) -> None:
    plan, result = state.plan, state.results[step.name]
    started = time.monotonic()
    if step.kind == "http":
        # Rendered when the run was staged; built here only for a plan made without staging.
        request = step.request or build_request(step, plan)
        result.request = dict(step.snapshot) if step.snapshot is not None else request_snapshot(request)
        await _send(step, plan, request, result, started, session, policy)
        return
    decision = notify.decide(step.config, failed=state.failed, previous_failed=plan.previous_failed)
    if not decision.send:
        result.status, result.result_key, result.message = "skipped", "job:status.skipped", decision.message
        return
    main = next((state.results[s.name] for s in plan.steps if s.is_main), None)
    data = notify.summary(plan, main, decision)
    if step.kind == "webhook":
        await _send(step, plan, notify.webhook_request(step, plan, data), result, started, session, policy)
        return
    subject, body = notify.email_content(step.config, plan, data)
    try:
        message = await notify.send_email(step.config, subject, body, step.timeout_s)
    except TimeoutError as exc:
        _finish(result, started, plans.TIMEOUT, type(exc).__name__, "The email backend did not answer in time")
    except Exception as exc:  # SMTP and backend errors vary; record the class and carry on
        _finish(result, started, plans.ERROR, type(exc).__name__, f"Email not sent: {exc}")
    else:
        _finish(result, started, None, None, message)


async def run_steps(state: RunState, session: aiohttp.ClientSession, policy: TargetPolicy) -> None:
    for step in state.plan.steps:
        result = state.results[step.name]
        reason = skip_reason(step, state)
        if reason is not None:
            result.status, result.result_key, result.message = "skipped", "job:status.skipped", reason
            continue
        result.status, result.started_at = "running", timezone.now()
        with tracing.step_span(state.plan, step, result):
            try:
                await _run_step(step, state, session, policy)
            except Exception as exc:  # a bug in one step must not lose the whole batch's results
                ids = {"run_id": state.plan.run_id, "job_id": state.plan.job_id, "step": step.name}
                logger.exception("step %s of run %s failed unexpectedly", step.name, state.plan.run_id, extra=ids)
                _finish(result, time.monotonic(), plans.ERROR, type(exc).__name__, str(exc))


async def drive(state: RunState, session: aiohttp.ClientSession, policy: TargetPolicy) -> None:
    """Run the steps; a cancellation requested for this run ends it `stopped`."""
    try:
        await run_steps(state, session, policy)
    except asyncio.CancelledError:
        if not state.stopping:
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        state.stopped = True
        state.cancel_unfinished()


def conclude(state: RunState) -> RunOutcome:
    """The run's end reason, warnings and retry decision from its steps."""
    plan, results = state.plan, state.results
    main_step = next((step for step in plan.steps if step.is_main), None)
    main = results[main_step.name] if main_step else None
    if state.stopped:
        end_reason = "stopped"
    elif main is None:
        # Notification-only jobs judge by their steps; a job without steps has nothing to succeed at.
        end_reason = "failed" if state.failed or not plan.steps else "success"
    elif main.status == "done":
        end_reason = "success"
    else:
        end_reason = _END_REASONS.get(main.failure or "", "failed")
    finished = [r.finished_at for r in results.values() if r.finished_at is not None]
    others_failed = any(r.status == "error" for r in results.values() if r is not main)
    return RunOutcome(
        run_id=plan.run_id,
        end_reason=end_reason,
        finished_at=max(finished, default=None) or timezone.now(),
        steps=results,
        main=main,
        warnings=end_reason == "success" and others_failed,
        retryable=(
            end_reason != "stopped"
            and main is not None
            and main.status == "error"
            and is_retryable(http_status=main.http_status, failure=main.failure)
        ),
    )
