"""Secrets: API keys are stored only as hashes; secret header values never leave the job's own request."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django.test import Client

from jobs.models import ApiKey
from jobs.services import apikey_create
from tests.jobs.engine.execute_support import execute, make_job, make_run

pytestmark = pytest.mark.django_db(transaction=True)  # the engine writes results on threads of its own

BEARER = "s3cr3t-bearer-value"
TOKEN = "s3cr3t-token-value"
CUSTOM = "s3cr3t-custom-value"
SECRETS = (BEARER, TOKEN, CUSTOM)


def dump_database() -> str:
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


def test_api_keys_are_stored_only_as_hashes(team, owner):
    key, raw = apikey_create(team=team, name="ci", scopes=["job:read"], created_by=owner)
    secret_part = raw.rsplit("_", 1)[1]
    dumped = dump_database()
    assert key.prefix in dumped
    assert raw not in dumped
    assert secret_part not in dumped
    assert ApiKey.objects.get(pk=key.pk).secret_hash != secret_part


def test_secret_headers_are_redacted_everywhere(team, owner, target, caplog):
    job = make_job(
        team,
        target.url("/ok"),
        natural_id="secretive",
        secret_headers=["X-Custom"],
        main_config={"headers": {"Authorization": f"Bearer {BEARER}", "X-Api-Token": TOKEN, "X-Custom": CUSTOM}},
    )
    with caplog.at_level(logging.DEBUG):
        run = execute(make_run(job))
    assert run.status == "ended"
    # The target got the real values: redaction is of the records, not of the request.
    (received,) = target.received("/ok")
    headers = {name.lower(): value for name, value in received.headers.items()}
    assert headers["authorization"] == f"Bearer {BEARER}"
    assert headers["x-custom"] == CUSTOM

    api, dashboard = Client(), Client()
    _, raw = apikey_create(team=team, name="reader", scopes=["job:read"], created_by=owner)
    api.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    dashboard.force_login(owner)
    outputs = {
        "logs": caplog.text,
        "snapshot": str(list(run.steps.values())) + str(run.__dict__),
        "api job": api.get(f"/api/jobs/{job.pk}").content.decode(),
        "api history": api.get(f"/api/jobs/{job.pk}/history").content.decode(),
        "api run": api.get(f"/api/jobs/{job.pk}/history/{run.pk}").content.decode(),
        "api all history": api.get("/api/history").content.decode(),
        "csv export": b"".join(api.get(f"/api/jobs/{job.pk}/history/export?format=csv").streaming_content).decode(),
        "ndjson export": b"".join(
            api.get(f"/api/jobs/{job.pk}/history/export?format=ndjson").streaming_content
        ).decode(),
        "northflank": api.get(f"/v1/projects/acme/jobs/{job.pk}/runs").content.decode(),
        "prunner": api.get(f"/job/detail?id={run.pk}").content.decode(),
        "krafter": api.get(f"/api/v1/cron/jobs/{job.pk}/executions").content.decode(),
        "runwisp": api.get("/api/tasks/secretive/runs").content.decode(),
        "dashboard run": dashboard.get(f"/runs/{run.pk}/").content.decode(),
        "dashboard run live": dashboard.get(f"/runs/{run.pk}/live/").content.decode(),
        "dashboard job": dashboard.get(f"/jobs/{job.pk}/").content.decode(),
    }
    for name, text in outputs.items():
        assert len(text) > 20, name
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaks in {name}"


def test_secret_header_values_are_encrypted_at_rest(team, owner, target, settings):
    from cryptography.fernet import Fernet

    from history.models import Run
    from jobs.crypto import decrypt_config
    from jobs.services import job_create, job_update, schedule_from_input, steps_from_input

    settings.HOURGLASS_ENCRYPTION_KEY = Fernet.generate_key().decode()
    headers = {"Authorization": f"Bearer {BEARER}", "X-Custom": CUSTOM, "Accept": "text/plain"}
    job = job_create(
        team=team,
        natural_id="sealed",
        schedule=schedule_from_input(kind="cron", expression="0 3 * * *"),
        steps=steps_from_input(request={"url": target.url("/ok"), "headers": headers}),
        secret_headers=["X-Custom"],
        created_by=owner,
    )
    dumped = dump_database()
    for secret in (BEARER, CUSTOM):
        assert secret not in dumped
    stored = job.steps.get().config["headers"]
    assert stored["Authorization"].startswith("enc:v1:")
    assert stored["X-Custom"].startswith("enc:v1:")
    assert stored["Accept"] == "text/plain"  # not a secret: kept readable
    assert decrypt_config(job.steps.get().config)["headers"] == headers
    # A header named secret later is sealed too.
    job_update(job=job, secret_headers=["X-Custom", "Accept"])
    assert job.steps.get().config["headers"]["Accept"].startswith("enc:v1:")
    # The executor decrypts: the target receives the real values.
    run = execute(make_run(job))
    assert run.status == Run.Status.ENDED
    (received,) = target.received("/ok")
    got = {name.lower(): value for name, value in received.headers.items()}
    assert got["authorization"] == f"Bearer {BEARER}"
    assert got["x-custom"] == CUSTOM
    assert got["accept"] == "text/plain"
