"""API fixtures (tests/api_support.py, shared with tests/history/api): a DRF client, keys, a job with runs."""

from tests.api_support import _fresh_throttles, api, as_key, as_user, job, make_key  # noqa: F401
