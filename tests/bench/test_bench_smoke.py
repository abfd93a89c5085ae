"""Every benchmark at smoke size, so the scripts keep working (`python -m bench --smoke` by hand).

The engine benchmarks start real workers the way the e2e tests do, and reuse their harness: the
session's test database (a file on SQLite), the session's broker (filesystem://, or a Redis
database claimed for the session) and the worker environment. Nothing is measured here beyond
"it ran and wrote its results".
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

import tests.e2e.conftest as e2e
from bench.__main__ import BENCHES
from bench.common import Context
from tests.e2e.conftest import worker_env  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def _e2e_cleanup(request: pytest.FixtureRequest) -> None:
    # The e2e conftest releases its broker and session dir when pytest unconfigures it; when only
    # tests/bench is collected, it is not a registered plugin yet, so register it for that.
    manager = request.config.pluginmanager
    if not manager.is_registered(e2e):
        manager.register(e2e, "tests.e2e.conftest-for-bench")


@pytest.mark.parametrize("name", list(BENCHES))
def test_it_runs_the_benchmark_at_smoke_size(name: str, worker_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    module = importlib.import_module(f"bench.{BENCHES[name]}")
    ctx = Context(smoke=True, out_dir=tmp_path, worker_env=worker_env, broker_url=e2e.BROKER_URL, repeat=1)

    result = module.run(ctx)

    saved = json.loads((tmp_path / f"{module.NAME}.json").read_text())
    assert saved["name"] == module.NAME == result["name"]
    assert (
        "**met**" in (tmp_path / f"{module.NAME}.md").read_text()
        or "**missed**" in (tmp_path / f"{module.NAME}.md").read_text()
    )
    assert CHECKS[name](result), result


# What "it ran" means for each: every run fired and ended, every page answered.
CHECKS = {
    "b1": lambda result: all(
        row["hourglass"]["received"] == row["n"] == row["baseline"]["received"] for row in result["rows"]
    ),
    "b2": lambda result: (
        all(sample["succeeded"] == result["m"] for sample in result["samples"]["hourglass"])
        and result["task_runs_per_s"] is not None
        and result["run_task_runs_per_s"] is not None
    ),
    "b3": lambda result: len(result["rows"]) == 5 and all(row["api_p50_ms"] > 0 for row in result["rows"]),
    "b4": lambda result: (
        result["samples"]["hourglass"][0]["deleted"] == result["samples"]["baseline"][0]["deleted"] > 0
    ),
    "b5": lambda result: all(case["end_reasons"] == ["success"] for case in result["cases"].values()),
    "b6": lambda result: len(result["rows"]) == 3 and result["stats"]["run_stats_p50_ms"] > 0,
    "b7": lambda result: (
        all(result[key]["requests"] == result[key]["expected"] > 0 for key in ("baseline", "loaded"))
        and result["loaded"]["hanging"] == result["sizes"]["hanging"]
    ),
    "b8": lambda result: all(row["created_per_tick"] == [row["due"]] for row in result["rows"]),
}
