"""Big, endless and compressed bodies: 2048 bytes kept, reading stops early, memory stays flat."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jobs.engine.execute_support import execute, make_job, make_run

SUFFIX = "...[truncated]"


def _peak_rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def _reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux), so the peak is this test's.
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


@pytest.fixture(scope="module")
def outside_target() -> Iterator[str]:
    """The test target in a process of its own, so its memory (a gzip bomb is built in RAM) is not ours."""
    script = (
        "import sys; from tests.target import start_target; "
        "t, _ = start_target(); print(t.port, flush=True); sys.stdin.read()"
    )
    root = Path(__file__).resolve().parents[3]
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stdin.close()
        process.wait(10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/bytes/52428800", "/endless", "/gzip-bomb?mb=200"])
def test_it_keeps_2048_bytes_and_memory_stays_flat(team, outside_target, path):
    job = make_job(team, outside_target + path, main_config={"timeout_ms": 20000})
    run = make_run(job)
    _reset_peak_rss()
    before = _peak_rss_kb()
    run = execute(run)
    growth_mb = (_peak_rss_kb() - before) / 1024

    assert run.end_reason == "success"
    assert run.response_body.endswith(SUFFIX)
    assert len(run.response_body.encode()) - len(SUFFIX) <= 2048 * 3  # replacement chars take 3 bytes
    assert len(run.response_body) == 2048 + len(SUFFIX)
    assert growth_mb < 30, f"peak RSS grew by {growth_mb:.1f} MB"
    assert run.duration_ms < 10000  # it stopped reading instead of draining the body


@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_small_body_whole(team, target):
    run = execute(make_run(make_job(team, target.url("/bytes/2048"))))

    assert run.response_body == "x" * 2048
