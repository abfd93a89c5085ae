"""Which broker the settings pick from the environment: amqp:// and redis:// URLs, REDIS_URL, the filesystem.

Each case imports config.settings in a fresh interpreter, as a process of the service would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, config.settings as s; "
    "print(json.dumps([s.CELERY_BROKER_URL, getattr(s, 'CELERY_BROKER_HEARTBEAT', None), "
    "s.CACHES['default']['BACKEND']]))"
)


def settings_with(tmp_path: Path, **env: str) -> list:
    clean = {k: v for k, v in os.environ.items() if k not in {"BROKER_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    clean.update({"HOURGLASS_VAR_DIR": str(tmp_path), "PYTHONPATH": str(ROOT), **env})
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    if result.returncode:
        return ["error", result.stderr.strip().splitlines()[-1]]
    return json.loads(result.stdout)


def test_an_amqp_broker_url_selects_rabbitmq_with_heartbeats(tmp_path):
    url = "amqp://guest:guest@127.0.0.1:5672/hourglass"
    assert settings_with(tmp_path, BROKER_URL=url) == [url, 10, "config.cache.FolderCache"]


def test_celery_broker_url_wins_over_redis_url_which_keeps_the_cache(tmp_path):
    url = "amqp://guest:guest@127.0.0.1:5672//"
    broker, heartbeat, cache = settings_with(tmp_path, CELERY_BROKER_URL=url, REDIS_URL="redis://127.0.0.1:6379/3")
    assert (broker, heartbeat, cache) == (url, 10, "config.cache.FailOpenRedisCache")


def test_redis_url_alone_still_selects_redis(tmp_path):
    broker, heartbeat, _ = settings_with(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3")
    assert (broker, heartbeat) == ("redis://127.0.0.1:6379/3", None)


def test_nothing_set_selects_the_filesystem_broker(tmp_path):
    assert settings_with(tmp_path)[0] == "filesystem://"


@pytest.mark.parametrize("url", ["kafka://127.0.0.1:9092", "sqs://queue"])
def test_an_unsupported_broker_scheme_is_refused_at_start(tmp_path, url):
    error = settings_with(tmp_path, BROKER_URL=url)
    assert error[0] == "error"
    assert "broker URL scheme" in error[1]
