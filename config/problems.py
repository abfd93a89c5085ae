"""RFC 9457 problem+json: the one exception handler for every DRF view, and every other error on API paths.

Django's ValidationError, Http404 and PermissionDenied are mapped to DRF's first, so services can
raise plain Django errors and every API answers the same shape:
    {"type", "title", "status", "detail", "instance", "errors": [{"location", "message", "value"}]}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Conflict
from jobs.auth import throttle_unauthenticated

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
LOCATIONS = ("query", "body", "path", "header")
_PATH_PART_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_SKIPPED_KEYS = {"non_field_errors", "__all__"}


class _Conflict(exceptions.APIException):
    """core.errors.Conflict as DRF sees it: 409, with the conflict's extension members."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"

    def __init__(self, conflict: Conflict) -> None:
        super().__init__(conflict.message)
        # Extension members added to the problem body beside the standard ones.
        self.problem_extra = conflict.extra


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def _to_drf(exc: Exception) -> Exception:
    if isinstance(exc, Conflict):
        return _Conflict(exc)
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, TooManyFieldsSent):
        return exceptions.ValidationError({"body": "Too many fields."})
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(detail=serializers.as_serializer_error(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def _flatten(detail: Any, path: str) -> list[tuple[str, str]]:
    """Nested DRF error detail → [(dotted path, message)]."""
    if isinstance(detail, dict):
        pairs: list[tuple[str, str]] = []
        for key, value in detail.items():
            if isinstance(key, int):  # a list's errors by index (DRF's ListSerializer)
                child = f"{path}[{key}]"
            else:
                child = path if key in _SKIPPED_KEYS else (f"{path}.{key}" if path else str(key))
            pairs.extend(_flatten(value, child))
        return pairs
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [(path, str(item)) for item in detail]
        pairs = []
        for index, item in enumerate(detail):
            if item:  # DRF puts {} for the list items that were valid
                pairs.extend(_flatten(item, f"{path}[{index}]"))
        return pairs
    return [(path, str(detail))]


def flatten_errors(detail: Any, path: str = "") -> list[tuple[str, str]]:
    """A DRF error detail as (dotted path, message) pairs: steps[0].config.url."""
    return _flatten(detail, path)


def _located(path: str, request: Any) -> str:
    head = path.split(".", 1)[0].split("[", 1)[0]
    if head in LOCATIONS:
        return path
    method = getattr(request, "method", "GET")
    where = "body" if method in ("POST", "PUT", "PATCH") else "query"
    return f"{where}.{path}" if path else where


def _lookup(container: Any, dotted: str) -> Any:
    for name, index in _PATH_PART_RE.findall(dotted):
        try:
            container = container[int(index)] if index else container[name]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return container


def _value_at(location: str, request: Any, view_kwargs: dict[str, Any]) -> Any:
    where, _, rest = location.partition(".")
    if request is None or not rest:
        return None
    if where == "query":
        values = request.query_params.getlist(rest) if hasattr(request, "query_params") else []
        return values[0] if len(values) == 1 else (values or None)
    if where == "path":
        return view_kwargs.get(rest)
    if where == "header":
        return request.headers.get(rest)
    try:
        return _lookup(request.data, rest)
    except exceptions.ParseError:
        return None


def validation_errors(detail: Any, request: Any = None, view_kwargs: dict | None = None) -> list[dict[str, Any]]:
    errors = []
    for path, message in _flatten(detail, ""):
        location = _located(path, request)
        errors.append(
            {"location": location, "message": message, "value": _value_at(location, request, view_kwargs or {})}
        )
    return errors


def problem(status_code: int, detail: str, *, instance: str = "", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "instance": instance,
    }
    body.update(extra)
    return body


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list | dict):
        return "; ".join(message for _, message in _flatten(detail, ""))
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    request = context.get("request")
    exc = throttle_unauthenticated(_to_drf(exc), request, context.get("view"))
    response = drf_exception_handler(exc, context)
    if response is None:
        # Also with DEBUG on: an API client gets problem+json, never Django's debug page; the log has the traceback.
        logger.error("Unhandled error in %s", getattr(request, "path", "?"), exc_info=exc)
        response = Response(status=status.HTTP_500_INTERNAL_SERVER_ERROR)
        detail = "The server failed to handle this request."
    else:
        detail = _detail_text(getattr(exc, "detail", ""))
    instance = request.get_full_path() if request is not None else ""
    extra: dict[str, Any] = dict(getattr(exc, "problem_extra", {}) or {})
    if isinstance(exc, exceptions.ValidationError):
        extra["errors"] = validation_errors(exc.detail, request, context.get("kwargs"))
        lines = getattr(exc, "lines", None) or {}  # a file's line per location (a manifest's, jobs.api.manifest)
        for error in extra["errors"]:
            if error["location"] in lines:
                error["line"] = lines[error["location"]]
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in extra["errors"]) or "Invalid request."
    response.data = problem(response.status_code, detail, instance=instance, **extra)
    renderer = getattr(request, "accepted_renderer", None)
    if getattr(renderer, "format", None) != "api":  # the browsable API keeps its HTML page
        response.content_type = PROBLEM_CONTENT_TYPE
    return response


# Where the API and the peer dialects answer (config/api.py, history/dialects/urls.py); prunner's
# paths answer errors in prunner's shape, {"error": "..."}, as plain JSON.
PRUNNER_PREFIXES = ("/job/", "/pipelines/")
API_PREFIXES = ("/api/", "/v1/", *PRUNNER_PREFIXES)
_DETAILS = {400: "Bad request.", 404: "No such resource.", 500: "The server failed to handle this request."}


def api_error_response(request: HttpRequest, status_code: int) -> HttpResponse:
    """The body an API path answers an error with when no DRF view shaped it."""
    detail = _DETAILS.get(status_code) or f"{HTTPStatus(status_code).phrase}."
    if request.path.startswith(PRUNNER_PREFIXES):
        return JsonResponse({"error": detail}, status=status_code)
    body = problem(status_code, detail, instance=request.get_full_path())
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


class ApiErrorMiddleware:
    """Errors Django answers itself on an API path become problem+json (prunner's shape on its paths):
    a URL that matches no route, a bad Host header, a failure outside a DRF view, and with DEBUG on
    the technical 404/500 pages, which must never reach an API client. Responses DRF rendered (the
    problem+json handler's, the browsable API's pages) pass as they are. Installed first, so it sees
    what every other middleware answered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or isinstance(response, Response) or not request.path.startswith(API_PREFIXES):
            return response
        if response.get("Content-Type", "").startswith((PROBLEM_CONTENT_TYPE, "application/json")):
            return response
        return api_error_response(request, response.status_code)


# --- OpenAPI ---------------------------------------------------------------------------------


class ProblemErrorSerializer(serializers.Serializer):
    location = serializers.CharField(help_text="Where the bad input is, e.g. query.limit or body.schedule.timezone.")
    message = serializers.CharField()
    value = serializers.JSONField(allow_null=True, help_text="The value that was rejected, when known.")
    line = serializers.IntegerField(
        required=False, help_text="For a file sent as text (a manifest): the line the bad input is on."
    )


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField(default="about:blank")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField()
    errors = ProblemErrorSerializer(many=True, required=False)  # type: ignore[assignment]  # a field, not .errors


_DESCRIPTIONS = {
    400: "Invalid input (see `errors`).",
    401: "No credentials, or a bad, expired or revoked key. Carries `WWW-Authenticate: Bearer`.",
    403: "A member or key without the permission this needs.",
    404: "Not found, or not visible to the caller.",
    409: "Conflicts with the current state, or a natural ID matches several jobs.",
    413: "The request body is larger than the server accepts.",
    429: "Throttled; see `Retry-After`.",
}


def problem_responses(*codes: int, described: dict[int, str] | None = None) -> dict[Any, OpenApiResponse]:
    """OpenAPI responses for the given error codes (always with 401, 404 and 429), as problem+json.

    `described` replaces the standard description of some codes, e.g. what makes a paged list's 400.
    """
    wanted = sorted(set(codes) | {401, 404, 429})
    texts = {**_DESCRIPTIONS, **(described or {})}
    return {
        (code, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description=texts.get(code, ""))
        for code in wanted
    }
