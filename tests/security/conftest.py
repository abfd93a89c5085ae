"""The security tests reuse the API fixtures (clients, keys made through the real service, a job)."""

from tests.api_support import _fresh_throttles, api, as_key, as_user, job, make_key  # noqa: F401
