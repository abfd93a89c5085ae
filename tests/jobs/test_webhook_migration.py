"""Stored webhook steps that read GET (or carried a body) are corrected to what they send: a POST."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from jobs.models import JobStep
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("jobs.migrations.0007_webhook_steps_post")


def test_stored_webhooks_read_post_and_lose_their_body(team):
    job = JobFactory(team=team)
    hook = JobStep.objects.create(
        job=job, name="hook", kind="webhook", position=1, config={"method": "GET", "url": "http://x/", "body": "b"}
    )
    main = job.steps.get(name="main")
    before = dict(main.config)

    migration.webhooks_say_post(apps, None)

    hook.refresh_from_db()
    main.refresh_from_db()
    assert hook.config == {"method": "POST", "url": "http://x/"}
    assert main.config == before  # http steps keep their method
