"""The one exception for "the resource's state forbids this": services raise it, each surface maps it once.

The API and the dialects answer 409 (config.problems.exception_handler: problem+json, prunner's
`{"error": ...}`); the dashboard shows the message; a management command exits with it.
"""

from __future__ import annotations

from typing import Any


class Conflict(Exception):
    """409: e.g. deleting a run that is still running, or a natural ID that names jobs in several teams.

    `extra` becomes extension members of the problem body (e.g. `jobs`: the UUIDs to choose from).
    """

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra
