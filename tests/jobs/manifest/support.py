"""A manifest with a bit of everything, and helpers to plan and apply text the way every surface does."""

from __future__ import annotations

from typing import Any

from jobs.manifest.apply import manifest_apply
from jobs.manifest.document import parse
from jobs.manifest.plan import Plan, manifest_plan

MANIFEST = """\
version: 1
jobs:
  nightly-report:
    name: Nightly report
    description: Builds the report.
    schedule: {kind: cron, expression: "30 2 * * *", timezone: Europe/Berlin}
    request:
      method: POST
      url: https://reports.example.com/run
      headers:
        Authorization: {secretFrom: env:REPORT_TOKEN}
        X-Team: acme
      body: '{"full": true}'
      timeoutMs: 10000
    retry: {limit: 2, backoff: linear, baseSeconds: 30}
    successRule: {statuses: "200-299,304", bodyContains: ok}
    retention: {keepRuns: 50, keepDays: 30}
    variables: {region: eu}
  heartbeat:
    schedule: {kind: interval, seconds: 60}
    request: {url: "https://ping.example.com/{{ job.natural_id }}"}
  fetch-and-notify:
    schedule: {kind: cron, expression: "@hourly", timezone: UTC}
    overlapPolicy: forbid
    steps:
      - name: fetch
        kind: http
        config: {url: https://api.example.com/fetch}
      - name: mail
        kind: email
        runIf: on_failure
        config: {recipients: [ops@example.com]}
"""

SECRET = "s3cret-report-token-1234"


def env(values: dict[str, str] | None = None) -> Any:
    values = {"REPORT_TOKEN": SECRET} if values is None else values
    return values.get


def plan(team: Any, text: str = MANIFEST, *, prune: bool = False, secrets: Any = None, **kwargs: Any) -> Plan:
    return manifest_plan(team=team, document=parse(text), prune=prune, resolve=secrets or env(), **kwargs)


def apply(team: Any, text: str = MANIFEST, *, prune: bool = False, secrets: Any = None, by: Any = None) -> Plan:
    return manifest_apply(team=team, document=parse(text), prune=prune, resolve=secrets or env(), by=by)
