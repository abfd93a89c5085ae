"""The admin tests use the dashboard's fixtures (tests/dashboard_support.py, shared with the dashboard tests)."""

from tests.dashboard_support import _fast_passwords, as_user, ended_run, job, running_run  # noqa: F401
