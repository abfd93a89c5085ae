""" "Send a test request" in the job form: the first HTTP step, as typed, sent once; no run is created.

It goes through the engine's own code: the step rendered as at run time (jobs.engine.runner), sent
by jobs.engine.http with the SSRF guard on every hop and the team's signature. A secret header left
as the placeholder `[redacted]` sends the stored value only where saving the form would keep it
(jobs.secrets: same step, header and origin); elsewhere it is left out, and the answer says so.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.dashboard import actor_of, current_team, dashboard_view, teams_of
from jobs import templating
from jobs.access import job_for_actor, require
from jobs.crypto import decrypt_config
from jobs.engine import http, plans
from jobs.engine.http import HttpOutcome
from jobs.engine.plans import StepPlan
from jobs.engine.runner import render_request
from jobs.engine.signing import team_secrets
from jobs.engine.ssrf import TargetPolicy
from jobs.engine.success import SuccessRule
from jobs.forms import StepForm
from jobs.models import Job, Team
from jobs.redact import redact_url
from jobs.roles import JOB_EDIT, JOB_RUN
from jobs.secrets import DroppedSecret, context_of, keep_stored_secrets, secret_names
from jobs.steps import validate_http_config

# A test holds a web worker while it waits: it gets at most this long, whatever the step's timeout.
PROBE_TIMEOUT_S = 15.0
STEPS_PREFIX = "steps"
# The service's error keys (request.url, ...) → the form's labels.
_LABELS = {"url": "URL", "method": "Method", "headers": "Headers", "body": "Body", "timeout_ms": "Timeout (ms)"}


@dataclass
class Probe:
    sent: bool = False
    method: str = ""
    url: str = ""  # redacted
    outcome: HttpOutcome | None = None
    errors: list[str] = field(default_factory=list)
    left_out: list[DroppedSecret] = field(default_factory=list)
    timeout_s: float = PROBE_TIMEOUT_S
    # What the job's success rule (as typed) makes of the answer: None = a run would succeed.
    verdict: str | None = None


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _first_http_step(data: Any) -> tuple[str, dict[str, Any]] | None:
    """The name and request of the first HTTP step in the form's POST (steps not ticked for removal),
    parsed by the form's own step form."""
    try:
        total = min(int(data.get(f"{STEPS_PREFIX}-TOTAL_FORMS", "0")), 100)
    except ValueError:
        return None
    for index in range(total):
        form = StepForm(data, prefix=f"{STEPS_PREFIX}-{index}")
        if data.get(form.add_prefix("DELETE")) or (data.get(form.add_prefix("kind")) or "http") != "http":
            continue
        if not form.is_valid():
            raise ValidationError(
                [
                    f"{form.fields[name].label or name}: {message}"
                    for name, errors in form.errors.items()
                    for message in errors
                ]
            )
        step = form.to_step()
        return step["name"], step["config"]
    return None


def _variables(data: Any) -> dict[str, Any]:
    text = (data.get("variables") or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationError("Variables: not valid JSON.") from exc
    if not isinstance(value, dict):
        raise ValidationError('Variables: give a JSON object, e.g. {"region": "eu"}.')
    return value


def _stored_secrets(
    job: Job | None, name: str, config: dict[str, Any], marked: list[str], typed: Any
) -> list[DroppedSecret]:
    """Put stored secret values where the placeholder stands, as saving would (config changed in place)."""
    stored = {step.name: step.config for step in job.steps.all()} if job is not None else {}
    before = context_of(job) if job is not None else context_of(typed)
    return keep_stored_secrets([{"name": name, "config": config}], stored, marked, before, context_of(typed))


async def _send(request: Any, follow_redirects: bool, secrets: tuple[str, ...]) -> HttpOutcome:
    policy = TargetPolicy.from_settings()
    async with http.guarded_session(policy, limit=1) as session:
        return await http.send(
            session,
            request,
            policy=policy,
            follow_redirects=follow_redirects,
            signing_secrets=secrets,
        )


def probe(data: Any, team: Team, job: Job | None) -> Probe:
    result = Probe()
    try:
        found = _first_http_step(data)
        if found is None:
            result.errors.append("The job has no HTTP step to test.")
            return result
        name, raw = found
        config = validate_http_config(raw, "request")
        variables = _variables(data)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for key, messages in exc.message_dict.items():
                label = _LABELS.get(key.rsplit(".", 1)[-1], "")
                result.errors += [f"{label}: {message}" if label else message for message in messages]
        else:
            result.errors += exc.messages
        return result
    natural_id = (data.get("natural_id") or "").strip() or (job.natural_id if job else "test")
    typed = SimpleNamespace(
        natural_id=natural_id, name=(data.get("name") or "").strip() or natural_id, variables=variables
    )
    marked = _comma_list(data.get("secret_headers") or "")
    result.left_out = _stored_secrets(job, name, config, marked, typed)
    # Secret: the marked names, and every value kept sealed from storage (redacted, and kept on its origin).
    secret = secret_names(marked, [config])
    config = decrypt_config(config)
    run_id = str(uuid.uuid4())
    context = templating.run_context(
        run_id=run_id,
        scheduled_for=timezone.now(),
        job_natural_id=typed.natural_id,
        job_name=typed.name,
        job_variables=variables,
    )
    step = StepPlan(
        name=name,
        kind="http",
        key=plans.MAIN_STEP_KEY,
        run_if="on_success",
        depends_on=(),
        config=config,
        timeout_s=min(config["timeout_ms"] / 1000, PROBE_TIMEOUT_S),
        is_main=True,
    )
    request = render_request(step, context, run_id, secret, ahead=True)
    result.method, result.url, result.timeout_s = (
        request.method,
        request.shown_url or redact_url(request.url, secret),
        step.timeout_s,
    )
    signing = team_secrets(
        team.signing_secret, team.previous_signing_secret, team.previous_signing_secret_expires_at, now=timezone.now()
    )
    result.outcome = outcome = asyncio.run(_send(request, bool(data.get("follow_redirects")), signing))
    result.sent = True
    if outcome.http_status is not None and outcome.failure is None:
        result.verdict = _success_rule(data).failure(outcome.http_status, outcome.match_text, outcome.latency_ms)
    return result


def _success_rule(data: Any) -> SuccessRule:
    try:
        max_latency_ms = int(data.get("success_max_latency_ms") or 0) or None
    except ValueError:
        max_latency_ms = None
    return SuccessRule.build(
        statuses=data.get("success_statuses") or "200-299",
        body_contains=data.get("success_body_contains") or "",
        body_regex=data.get("success_body_regex") or "",
        max_latency_ms=max_latency_ms,
    )


@require_POST
@dashboard_view
def probe_view(request: HttpRequest, job_id: UUID | None = None) -> HttpResponse:
    """htmx from the job form: the answer to the first HTTP step as typed (job:run and job:edit)."""
    actor = actor_of(request)
    job = None
    team: Team | None
    if job_id is not None:
        job = job_for_actor(actor, str(job_id), JOB_EDIT)
        team = job.team
    else:
        team = current_team(request, teams_of(actor))
        if team is None:
            raise Http404("You are not in a team yet.")
    require(actor, team.pk, JOB_EDIT)
    require(actor, team.pk, JOB_RUN)
    return render(request, "jobs/_test_request.html", {"probe": probe(request.POST, team, job)})
