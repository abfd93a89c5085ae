"""Plain data the executor runs from and returns, so the event loop never touches the ORM."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from yarl import URL

from jobs.engine.anomaly import AnomalyRule
from jobs.engine.success import SuccessRule

# Failure kinds, from the class of what went wrong; retries and exit codes follow from them.
STATUS = "status"  # the response broke the success rule (bad status, body, latency)
TIMEOUT = "timeout"
CONNECTION = "connection"
BLOCKED = "blocked"
INVALID = "invalid"  # the step cannot be sent as configured (bad URL after substitution, ...)
ERROR = "error"  # anything else, e.g. the mail server refused

EXIT_CODES = {STATUS: 1, INVALID: 1, ERROR: 1, TIMEOUT: 124, CONNECTION: 125, BLOCKED: 125}
RESULT_KEYS = {TIMEOUT: "job:status.timeout", BLOCKED: "job:status.blocked"}

STEP_KEYS = {
    "email": "job:actions.send_email",
    "webhook": "job:actions.webhook",
}
MAIN_STEP_KEY = "job:progress.invoking_job"
HTTP_STEP_KEY = "job:actions.http_request"
EMAIL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class OutboundRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    timeout_s: float
    # Dropped when a redirect leaves the origin, like Authorization.
    secret_headers: tuple[str, ...] = ()
    # The URL parsed (and shown with its secrets redacted), when the request was built ahead of time.
    target: URL | None = None
    shown_url: str = ""


@dataclass(frozen=True)
class StepPlan:
    name: str
    kind: str
    key: str
    run_if: str
    depends_on: tuple[str, ...]
    config: Mapping[str, Any]
    timeout_s: float
    is_main: bool = False
    position: int = 0
    # HTTP steps: the request, rendered when the run is staged, and its redacted snapshot.
    request: OutboundRequest | None = None
    snapshot: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RunMeta:
    """What the result writer needs besides the outcome: the retry policy and the new row's fields."""

    team_id: int
    run_name: str
    triggered_by: str
    triggered_by_user_id: int | None
    variables: Mapping[str, Any]
    retry_limit: int
    backoff_strategy: str
    backoff_base_seconds: int
    # The run's lease once it is sent: its steps' timeouts plus the grace.
    lease_seconds: float
    # When it may fire: its slot, or for a retry its not_before.
    due: datetime
    # The job definition it was planned from.
    job_updated_at: datetime | None = None
    # scheme://host:port of its main request: the engine's per-team-and-host limit counts by it.
    origin: str = ""


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    job_id: str
    job_natural_id: str
    job_name: str
    team_slug: str
    attempt: int
    scheduled_for: datetime
    started_at: datetime
    # Variables for {{ ... }} substitution: built-ins, the job's, then the trigger's.
    context: Mapping[str, str]
    secret_headers: tuple[str, ...]
    signing_secrets: tuple[str, ...]
    follow_redirects: bool
    success: SuccessRule
    steps: tuple[StepPlan, ...]
    meta: RunMeta
    # End results of the job's previous runs, newest first: True = failed. Only for notifications.
    previous_failed: tuple[bool, ...] = ()
    # The first attempt's run id: every attempt of a slot sends it, so a target can de-duplicate.
    idempotency_key: str = ""
    # The job's anomaly thresholds in force (jobs.engine.anomaly); None: no anomaly checks.
    anomaly: AnomalyRule | None = None


@dataclass
class StepResult:
    status: str = "waiting"
    http_status: int | None = None
    response_body: str | None = None
    error: str | None = None
    exit_code: int | None = None
    message: str = ""
    result_key: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    failure: str | None = None
    retry_after: str | None = None
    # The request as sent, secrets redacted (HTTP steps only).
    request: dict[str, Any] | None = None
    # For the anomaly checks: the body's size (Content-Length when it was not all read) and the
    # type of the job's JSON field in it (main step only, when the job names one).
    response_bytes: int | None = None
    json_type: str | None = None


@dataclass
class RunOutcome:
    run_id: str
    end_reason: str
    finished_at: datetime
    steps: dict[str, StepResult] = field(default_factory=dict)
    main: StepResult | None = None
    warnings: bool = False
    retryable: bool = False
    # The run's span when tracing is on (jobs.engine.tracing), for the writer's span to link to.
    span_context: Any = None
