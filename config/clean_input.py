"""Clean text at the door: request bodies (DRF parsers) and query strings (a middleware) holding a NUL or a
lone UTF-16 surrogate are refused with a 400 before any view reads them (jobs.text has the rule).

The parsers are the REST_FRAMEWORK defaults, so every API and dialect body passes through them. The
middleware covers every query string: for a DRF view it answers through that view's own exception
handling (problem+json, or the dialect's error shape); for the dashboard and the admin, a plain 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from rest_framework import exceptions, parsers

from config.parsers import JSONParser
from jobs.text import unclean_paths


def _located(found: list[tuple[str, str]], where: str, form: bool) -> dict[str, list[str]]:
    """Messages by location; a form's (or query string's) values are lists, named without their index."""
    errors: dict[str, list[str]] = {}
    for path, message in found:
        name = path.split("[", 1)[0] if form else path
        errors.setdefault(f"{where}.{name}" if name else where, []).append(message)
    return errors


def _check_body(data: Any) -> None:
    form = hasattr(data, "lists")  # a QueryDict from a form or multipart body
    errors = _located(unclean_paths(dict(data.lists()) if form else data), "body", form)
    if errors:
        raise ValidationError(errors)


class CleanBodyMixin:
    """For a DRF parser: what it parsed is refused if any name or value holds a NUL or a lone surrogate."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)  # type: ignore[misc]  # a mixin: the parser class it is mixed into has parse()
        _check_body(getattr(parsed, "data", parsed))  # multipart answers DataAndFiles
        return parsed


class CleanJSONParser(CleanBodyMixin, JSONParser):
    pass


class CleanFormParser(CleanBodyMixin, parsers.FormParser):
    pass


class CleanMultiPartParser(CleanBodyMixin, parsers.MultiPartParser):
    pass


def query_errors(request: HttpRequest) -> dict[str, list[str]]:
    """Problems in the query string, by location (`query.q`; `query` for a bad parameter name)."""
    return _located(unclean_paths(dict(request.GET.lists())), "query", form=True)


def _drf_answer(view_func: Any, request: HttpRequest, args: Any, kwargs: Any, errors: Any) -> HttpResponse:
    """The answer the DRF view itself gives to a ValidationError: problem+json, or its dialect's shape."""
    view = view_func.cls(**getattr(view_func, "initkwargs", {}))
    view.action_map = getattr(view_func, "actions", {})  # a ViewSet's method → action table
    view.args, view.kwargs = args, kwargs
    view.request = view.initialize_request(request, *args, **kwargs)
    view.headers = view.default_response_headers
    # As DRF's own dispatch would have chosen it, so the browsable API still answers with its page.
    view.format_kwarg = view.get_format_suffix(**kwargs)
    view.request.accepted_renderer, view.request.accepted_media_type = view.perform_content_negotiation(
        view.request, force=True
    )
    response = view.handle_exception(exceptions.ValidationError(errors))
    return view.finalize_response(view.request, response, *args, **kwargs)


class CleanQueryMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        errors = query_errors(request)
        if not errors:
            return None
        # Imported here: DRF loads the parsers above from its settings while rest_framework.views is loading.
        from rest_framework.views import APIView

        view_class = getattr(view_func, "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            return _drf_answer(view_func, request, view_args, view_kwargs, errors)
        lines = "\n".join(f"{where}: {message}" for where, messages in errors.items() for message in messages)
        return HttpResponseBadRequest(f"Bad request.\n{lines}\n", content_type="text/plain; charset=utf-8")
