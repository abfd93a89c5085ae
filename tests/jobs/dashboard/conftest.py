"""Dashboard fixtures (tests/dashboard_support.py, shared with tests/history/dashboard and tests/history/admin)."""

from tests.dashboard_support import _fast_passwords, as_user, ended_run, job, running_run  # noqa: F401
