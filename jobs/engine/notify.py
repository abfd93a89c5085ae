"""Notifications as steps of a run: email through Django's backend, or a webhook with a JSON summary.

They usually run `on_failure`. `after_failures` N waits for N consecutive failed runs of the job
(this one included); `on_recovery` also notifies when this run succeeds right after a failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.mail import send_mail

from jobs import templating
from jobs.engine import tracing
from jobs.engine.http import OutboundRequest, standard_headers
from jobs.engine.plans import RunPlan, StepPlan, StepResult

# End reasons that count as a failed run, and those that break a failure streak; the rest
# (stopped, skipped, missed) say nothing about the target and are ignored.
FAILED_REASONS = frozenset({"failed", "timeout", "crashed", "blocked", "log_overflow"})
COUNTED_REASONS = FAILED_REASONS | {"success"}

FAILED, RECOVERED, SUCCEEDED = "failed", "recovered", "succeeded"


@dataclass(frozen=True)
class Decision:
    send: bool
    outcome: str
    streak: int  # consecutive failed runs, this one included (0 when it has not failed)
    message: str = ""


def failure_streak(previous_failed: Sequence[bool]) -> int:
    streak = 0
    for failed in previous_failed:
        if not failed:
            break
        streak += 1
    return streak


def recovers(config: Mapping[str, Any], previous_failed: Sequence[bool]) -> bool:
    """Whether a successful run should still notify: on_recovery and the last ended run failed."""
    return bool(config.get("on_recovery")) and bool(previous_failed) and previous_failed[0]


def decide(config: Mapping[str, Any], *, failed: bool, previous_failed: Sequence[bool]) -> Decision:
    if failed:
        streak = failure_streak(previous_failed) + 1
        needed = int(config.get("after_failures") or 1)
        if streak < needed:
            return Decision(False, FAILED, streak, f"Not sent: {streak} of {needed} consecutive failures")
        return Decision(True, FAILED, streak)
    if recovers(config, previous_failed):
        return Decision(True, RECOVERED, 0)
    return Decision(True, SUCCEEDED, 0)


def summary(plan: RunPlan, main: StepResult | None, decision: Decision) -> dict[str, Any]:
    """What a webhook receives, and what an email describes."""
    return {
        "event": f"run.{decision.outcome}",
        "team": plan.team_slug,
        "job": {"id": plan.job_id, "natural_id": plan.job_natural_id, "name": plan.job_name},
        "run": {
            "id": plan.run_id,
            "attempt": plan.attempt,
            "scheduled_for": plan.scheduled_for.isoformat(),
            "started_at": plan.started_at.isoformat(),
            "outcome": decision.outcome,
            "http_status": main.http_status if main else None,
            "error": main.error if main else None,
            "exit_code": main.exit_code if main else None,
            "duration_ms": main.duration_ms if main else None,
            "response_body": main.response_body if main else None,
        },
        "consecutive_failures": decision.streak,
    }


def _context(plan: RunPlan, data: dict[str, Any]) -> dict[str, str]:
    run = data["run"]
    return {
        **plan.context,
        "outcome": data["run"]["outcome"],
        "error": run["error"] or "",
        "http_status": "" if run["http_status"] is None else str(run["http_status"]),
        "failures": str(data["consecutive_failures"]),
    }


def email_content(config: Mapping[str, Any], plan: RunPlan, data: dict[str, Any]) -> tuple[str, str]:
    context = _context(plan, data)
    subject = templating.render_header(
        str(config.get("subject") or "Hourglass: {{ job.natural_id }} {{ outcome }}"), context
    )
    if config.get("body"):
        return subject, templating.render(str(config["body"]), context)
    run = data["run"]
    lines = [
        f"Job: {plan.job_natural_id} ({plan.job_name}), team {plan.team_slug}",
        f"Run: {plan.run_id}, attempt {plan.attempt}, scheduled for {run['scheduled_for']}",
        f"Outcome: {run['outcome']}" + (f" ({run['error']})" if run["error"] else ""),
    ]
    if run["http_status"] is not None:
        lines.append(f"HTTP status: {run['http_status']}")
    if data["consecutive_failures"]:
        lines.append(f"Consecutive failures: {data['consecutive_failures']}")
    if run["response_body"]:
        lines += ["", "Response body:", run["response_body"]]
    return subject, "\n".join(lines)


async def send_email(config: Mapping[str, Any], subject: str, body: str, timeout_s: float) -> str:
    """Send through Django's email backend in a thread (SMTP blocks); returns the step message."""
    recipients = [str(r) for r in config.get("recipients") or []]
    async with asyncio.timeout(timeout_s):
        sent = await asyncio.to_thread(send_mail, subject, body, None, recipients, fail_silently=False)
    if not sent:
        raise RuntimeError("the email backend sent nothing")
    return f"Email sent to {len(recipients)} recipient{'s' if len(recipients) != 1 else ''}"


def webhook_request(step: StepPlan, plan: RunPlan, data: dict[str, Any]) -> OutboundRequest:
    """A POST of the run summary as JSON, with the step's own headers (variables substituted)."""
    headers = {
        name: templating.render_header(str(value), plan.context)
        for name, value in (step.config.get("headers") or {}).items()
        if name.lower() != "content-type"
    }
    headers["Content-Type"] = "application/json"
    return OutboundRequest(
        method="POST",
        url=templating.render(str(step.config.get("url") or ""), plan.context),
        headers=standard_headers(
            headers, f"{plan.run_id}:{step.name}", tracing.traceparent(tracing.trace_id_of(plan.run_id))
        ),
        body=json.dumps(data, separators=(",", ":")).encode(),
        timeout_s=step.timeout_s,
        secret_headers=plan.secret_headers,
    )
