"""Fault tests reuse the end-to-end harness (real worker, test database, broker) from tests/e2e.

Importing the module runs its set-up (SQLite file database, claimed Redis database) once, as for
tests/e2e; the fixtures are re-exported here rather than copied.
"""

from tests.e2e.conftest import (  # noqa: F401
    pytest_unconfigure,
    start_worker,
    worker,
    worker_env,
)
