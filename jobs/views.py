from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import cast

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.log import log_response
from django.views.decorators.csrf import csrf_exempt

ECHO_MAX_DELAY_MS = 60_000
ECHO_MAX_BYTES = 100 * 1024 * 1024
_CHUNK = 64 * 1024


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int | str:
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        return f"{name} must be an integer"
    if not low <= value <= high:
        return f"{name} must be between {low} and {high}"
    return value


def _filler(size: int) -> Iterator[bytes]:
    chunk = b"x" * _CHUNK
    while size > 0:
        yield chunk[: min(size, _CHUNK)]
        size -= _CHUNK


@csrf_exempt
def echo(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """A target for demo jobs and tests: ?status=500&delay_ms=200&bytes=1000."""
    status = _int_param(request, "status", 200, 100, 599)
    delay_ms = _int_param(request, "delay_ms", 0, 0, ECHO_MAX_DELAY_MS)
    size = _int_param(request, "bytes", 0, 0, ECHO_MAX_BYTES)
    problems = [p for p in (status, delay_ms, size) if isinstance(p, str)]
    if problems:
        return JsonResponse({"error": "; ".join(problems)}, status=400)
    status, delay_ms, size = cast(int, status), cast(int, delay_ms), cast(int, size)  # the str ones were problems
    if delay_ms:
        time.sleep(delay_ms / 1000)
    if size:
        response: HttpResponse | StreamingHttpResponse = StreamingHttpResponse(
            _filler(size), status=status, content_type="text/plain"
        )
        response["Content-Length"] = str(size)
    else:
        body = {
            "status": status,
            "method": request.method,
            "idempotency_key": request.headers.get("Idempotency-Key"),
            "body": request.body[:2048].decode("utf-8", "replace"),
        }
        response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    # The status was asked for: a 500 here is the demo working, not the server failing. Logged once,
    # at DEBUG, so django.request does not report it as an error.
    log_response(
        "Echo answered %s: %s",
        status,
        request.path,
        response=response,  # type: ignore[arg-type]  # Django logs any response; the stub says HttpResponse
        request=request,
        level="debug",
    )
    return response
