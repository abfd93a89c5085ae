"""Dashboard fixtures: a job with a history, and a Django test client logged in as a persona."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from history.models import Run, RunStep
from jobs.models import Job, Team
from tests.api_support import add_step, make_runs
from tests.factories import JobFactory, RunFactory

__all__ = ["add_step", "make_runs"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    # The personas' passwords are hashed on creation; PBKDF2 would dominate these tests' time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def as_user(client: Client) -> Callable[[Any], Client]:
    def login(user: Any) -> Client:
        client.force_login(user)
        return client

    return login


@pytest.fixture
def job(team: Team) -> Job:
    return JobFactory(
        team=team,
        natural_id="nightly-report",
        name="Nightly report",
        url="http://127.0.0.1:9/report",
        next_run_at=timezone.now() + timedelta(minutes=1),
    )


@pytest.fixture
def ended_run(job: Job) -> Run:
    run = RunFactory(
        job=job,
        http_status=200,
        duration_ms=120,
        lateness_ms=15,
        response_body='{"ok": true}',
        started_at=timezone.now() - timedelta(seconds=1),
        finished_at=timezone.now(),
        request={"method": "GET", "url": "http://127.0.0.1:9/report", "headers": {"Authorization": "[redacted]"}},
    )
    add_step(run, "main", RunStep.Status.DONE, http_status=200)
    return run


@pytest.fixture
def running_run(job: Job) -> Run:
    run = RunFactory(job=job, status=Run.Status.RUNNING, end_reason="", started_at=timezone.now())
    add_step(run, "fetch", RunStep.Status.DONE, position=0)
    add_step(run, "notify", RunStep.Status.RUNNING, position=1)
    return run
