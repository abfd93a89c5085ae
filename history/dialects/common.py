"""What the four peer dialects share: the primary API's view policy, with the error body as the one difference.

Authentication (Bearer keys, sessions), throttles and the 401/403/404/409 decisions are the primary
API's, unchanged. Errors go through the same problem+json handler first (it maps Django errors and
sets WWW-Authenticate), and a dialect only reshapes the body it produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import PROBLEM_CONTENT_TYPE
from config.renderers import FAST_RENDERERS
from core.api import TeamScopedView
from history.selectors import Ordering

ExceptionHandler = Callable[[Exception, dict[str, Any]], Response | None]

# Every dialect lists newest first on the (job, -created_at, -id) index; only RunWisp lets the caller sort.
NEWEST_FIRST = Ordering("created_at", descending=True)


class DialectView(TeamScopedView):
    """An endpoint in a peer's dialect. Subclasses override `error_body` when the peer's errors aren't problem+json."""

    renderer_classes = FAST_RENDERERS
    # None keeps the problem+json media type; a dialect with plain JSON errors sets "application/json".
    error_media_type: str | None = None

    def error_body(self, problem: dict[str, Any], request: Request) -> dict[str, Any]:
        return problem

    def get_exception_handler(self) -> ExceptionHandler:
        handle_problem: ExceptionHandler = super().get_exception_handler()

        def handle(exc: Exception, context: dict[str, Any]) -> Response | None:
            response = handle_problem(exc, context)
            if response is None:
                return None
            response.data = self.error_body(response.data, context["request"])
            # The browsable API keeps its HTML page; only the JSON answer changes media type.
            if self.error_media_type and response.content_type == PROBLEM_CONTENT_TYPE:
                response.content_type = self.error_media_type
            return response

        return handle
