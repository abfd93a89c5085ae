"""API fixtures: a DRF client, keys made through the real service, a job with runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from history.models import Run, RunStep
from jobs.models import Job, Team
from jobs.services import apikey_create
from tests.factories import JobFactory

ROLE_FIXTURES = ("owner", "editor", "operator", "viewer")


def throttle_rates(**rates: str) -> override_settings:
    """REST_FRAMEWORK with these throttle rates (by scope: apikey=, user=) over the configured ones."""
    merged = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates}
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": merged})


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    # Throttle counters live in the cache; one test's requests must not count against another's.
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def as_user(api: APIClient) -> Callable[[Any], APIClient]:
    def login(user: Any) -> APIClient:
        api.force_authenticate(user=None)
        api.credentials()
        api.force_login(user)
        return api

    return login


@pytest.fixture
def make_key(team: Team) -> Callable[..., str]:
    def make(scopes: list[str], *, created_by: Any = None, on: Team | None = None, **kwargs: Any) -> str:
        _, raw = apikey_create(team=on or team, name="test", scopes=scopes, created_by=created_by, **kwargs)
        return raw

    return make


@pytest.fixture
def as_key(api: APIClient, make_key: Callable[..., str]) -> Callable[..., APIClient]:
    def bearer(scopes: list[str] | str, **kwargs: Any) -> APIClient:
        raw = scopes if isinstance(scopes, str) and scopes.startswith("hg_") else None
        if raw is None:
            raw = make_key([scopes] if isinstance(scopes, str) else scopes, **kwargs)
        api.logout()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return api

    return bearer


@pytest.fixture
def job(team: Team) -> Job:
    return JobFactory(team=team, natural_id="nightly-report", name="Nightly report")


def make_runs(
    job: Job, count: int, *, start: Any = None, step: timedelta = timedelta(seconds=1), **fields: Any
) -> list:
    """`count` ended runs, oldest first, created_at one `step` apart (bulk, so created_at is ours)."""
    start = start or timezone.now() - step * (count + 1)
    runs = [
        Run(
            job=job,
            team_id=job.team_id,
            scheduled_for=start + step * index,
            created_at=start + step * index,
            status=fields.get("status", Run.Status.ENDED),
            end_reason=fields.get("end_reason", Run.EndReason.SUCCESS),
            **{k: v for k, v in fields.items() if k not in ("status", "end_reason")},
        )
        for index in range(count)
    ]
    inserted_from = timezone.now()
    Run.objects.bulk_create(runs, batch_size=2000)
    # created_at is auto_now_add, so the insert stamped "now"; put the intended times back.
    Run.objects.filter(job=job, created_at__gte=inserted_from).update(created_at=F("scheduled_for"))
    for run in runs:
        run.created_at = run.scheduled_for
    return runs


def add_step(run: Run, name: str = "main", status: str = RunStep.Status.DONE, **fields: Any) -> RunStep:
    return RunStep.objects.create(run=run, name=name, status=status, **fields)


_COLUMNS = (
    "id, run_name, triggered_by, attempt, backoff_limit, status, end_reason, scheduled_for, created_at, warnings,"
    " variables, data, request, worker, job_id, team_id, http_status, response_body"
)


def insert_ended_runs(
    job: Job,
    count: int,
    *,
    http_status: int = 200,
    response_body: str = "",
    start: str = "2024-01-01 00:00:00",
    end_reason: str = "success",
) -> None:
    """`count` ended runs in one INSERT … SELECT, a second apart from `start` (their slots, so calls for
    one job need starts apart): 100k rows in about a second instead of bulk_create's 15."""
    from django.db import connection

    if connection.vendor == "postgresql":
        sql = (  # the column list is a constant
            f"INSERT INTO history_run ({_COLUMNS}) SELECT gen_random_uuid(), '', 'cron', 1, 0, 'ended', %s,"  # noqa: S608
            " %s::timestamptz + n * interval '1 second', %s::timestamptz + n * interval '1 second', false,"
            " '{}', '{}', '{}', '', %s, %s, %s, %s FROM generate_series(1, %s) AS n"
        )
        params = [end_reason, f"{start}+00", f"{start}+00", str(job.pk), job.team_id, http_status, response_body, count]
    else:
        sql = (  # the column list is a constant
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %s) "  # noqa: S608
            f"INSERT INTO history_run ({_COLUMNS}) SELECT lower(hex(randomblob(16))), '', 'cron', 1, 0, 'ended',"
            " %s, datetime(%s, '+' || n || ' seconds'), datetime(%s, '+' || n || ' seconds'), 0,"
            " '{}', '{}', '{}', '', %s, %s, %s, %s FROM seq"
        )
        params = [count, end_reason, start, start, job.pk.hex, job.team_id, http_status, response_body]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
