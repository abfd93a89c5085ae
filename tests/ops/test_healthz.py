"""GET /healthz against the real database and broker: 200 when all is well, 503 naming what is not.

transactional_db: each check opens its own connection in a thread of its own, so the rows a test
writes must be committed for the checks to see them.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from unittest.mock import ANY

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from jobs import tasks
from jobs.engine.clock import install_system_tasks
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def beat_ticked() -> None:
    """The system tasks installed and one real tick of the dispatch task, as beat would send it."""
    install_system_tasks()
    tasks.dispatch()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once it is closed


@pytest.fixture
def silent_redis() -> Iterator[int]:
    """A port that accepts connections and never answers, as a wedged Redis would."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_it_is_healthy_when_the_database_broker_and_dispatcher_are(client, beat_ticked):
    response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "broker": "ok",
        "beat": "ok",
    }
    assert body["checks"]["beat"]["last_dispatch_age_seconds"] < 5
    assert response["Cache-Control"] == "no-store"
    assert client.head("/healthz").status_code == 200


def test_it_names_the_broker_when_redis_does_not_answer(client, settings, beat_ticked):
    port = closed_port()
    settings.CELERY_BROKER_URL = settings.REDIS_URL = f"redis://:hunter2@127.0.0.1:{port}/0"

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failing"]) == ("error", ["broker"])
    assert body["checks"]["broker"]["reason"].startswith("unreachable")
    assert body["checks"]["broker"]["transport"] == "redis"
    assert body["checks"]["database"]["status"] == body["checks"]["beat"]["status"] == "ok"
    # No login is needed, so nothing about where the broker is or how to log in to it.
    assert "hunter2" not in response.content.decode()
    assert str(port) not in response.content.decode()


def test_it_answers_within_its_bound_when_the_broker_hangs(client, settings, beat_ticked, silent_redis):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent_redis}/0"

    started = time.monotonic()
    response = client.get("/healthz")

    assert time.monotonic() - started < 4
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


def test_it_names_rabbitmq_when_it_does_not_answer(client, settings, beat_ticked):
    port = closed_port()
    settings.CELERY_BROKER_URL = f"amqp://hourglass:hunter2@127.0.0.1:{port}/prod"

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"]["reason"].startswith("unreachable")
    assert body["checks"]["broker"]["transport"] == "amqp"
    assert "hunter2" not in response.content.decode()
    assert str(port) not in response.content.decode()


def test_it_answers_within_its_bound_when_rabbitmq_hangs(client, settings, beat_ticked, silent_redis):
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{silent_redis}//"  # accepts, never speaks AMQP

    started = time.monotonic()
    response = client.get("/healthz")

    assert time.monotonic() - started < 4
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


def test_it_names_the_transport_of_the_broker_it_reached(client, settings, beat_ticked):
    expected = {"amqp": "amqp", "pyamqp": "amqp", "redis": "redis", "filesystem": "filesystem"}
    scheme = settings.CELERY_BROKER_URL.split(":", 1)[0]

    response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"] == {"status": "ok", "transport": expected[scheme], "ms": ANY}


def test_it_names_the_broker_when_its_folder_is_gone(client, settings, beat_ticked, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    gone = str(tmp_path / "gone")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": gone, "data_folder_out": gone}

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]
    assert response.json()["checks"]["broker"]["reason"] == "a broker folder is missing or not writable"


def test_it_names_beat_when_the_last_dispatch_is_stale(client, settings, beat_ticked):
    settings.HOURGLASS_HEALTH_MAX_DISPATCH_AGE_SECONDS = 30
    PeriodicTask.objects.filter(name="dispatch").update(last_run_at=timezone.now() - timedelta(seconds=45))

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["beat"]
    assert body["checks"]["beat"]["reason"] == "no dispatch within the allowed age"
    assert 45 <= body["checks"]["beat"]["last_dispatch_age_seconds"] < 50


def test_a_new_tick_makes_it_healthy_again(client, beat_ticked):
    PeriodicTask.objects.filter(name="dispatch").update(last_run_at=timezone.now() - timedelta(minutes=5))
    assert client.get("/healthz").status_code == 503

    tasks.dispatch()  # the heartbeat is written at most every few seconds, but a stale one at once

    assert client.get("/healthz").status_code == 200


def test_it_names_beat_before_the_dispatcher_ever_ran(client):
    install_system_tasks()

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["beat"]["reason"] == "the dispatcher has not run yet"


def test_it_names_beat_when_the_dispatch_task_is_disabled(client, beat_ticked):
    PeriodicTask.objects.filter(name="dispatch").update(enabled=False)
    assert client.get("/healthz").json()["failing"] == ["beat"]


def test_it_names_beat_when_a_slot_is_overdue(client, team, beat_ticked):
    # Beat ticks, but the dispatcher is not firing this job's slot (it fails on it, or lags).
    JobFactory(team=team, next_run_at=timezone.now() - timedelta(minutes=3))

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["beat"]["reason"] == "a job slot is overdue beyond the allowed age"


def test_it_only_reads(client):
    assert client.post("/healthz").status_code == 405
