"""Query-string parsing and HAL links shared by the primary API's lists (jobs and history)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework.request import Request

DEFAULT_LIMIT = 30
MAX_LIMIT = 1000


class Gathered:
    """Runs several parsers and reports all their errors at once, so a client fixes them in one go."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def __call__(self, parse: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return parse(*args, **kwargs)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.errors.setdefault(field, []).extend(messages)
            return None

    def check(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def query_int(
    params: Mapping[str, Any], name: str, *, default: int, low: int, high: int | None = None, blank: bool = True
) -> int:
    """A whole-number parameter: absent gives `default`, and so does empty unless `blank` is False."""
    given = params.getlist(name) if hasattr(params, "getlist") else []
    if len(given) > 1:  # QueryDict.get would quietly take the last one
        raise ValidationError({f"query.{name}": "Give it once."})
    raw = params.get(name)
    bound = f"between {low} and {high}" if high is not None else f"{low} or more"
    if raw is None or (raw == "" and blank):
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValidationError({f"query.{name}": f"Must be a whole number {bound}."}) from None
    if value < low or (high is not None and value > high):
        raise ValidationError({f"query.{name}": f"Must be {bound}."})
    return value


def query_text(params: Mapping[str, Any], name: str, *, max_length: int) -> str:
    value = str(params.get(name) or "")
    if "\x00" in value:
        raise ValidationError({f"query.{name}": "Null characters are not allowed."})
    if len(value) > max_length:
        raise ValidationError({f"query.{name}": f"At most {max_length} characters."})
    return value


def query_sort(params: Mapping[str, Any], fields: Mapping[str, str], default: str) -> tuple[str, bool]:
    """`sort=name` or `sort=-name` → (model field, descending); 400 for a name not in `fields`."""
    raw = str(params.get("sort") or default).strip()
    descending = raw.startswith("-")
    name = raw[1:] if descending else raw
    if name not in fields:
        choices = ", ".join(f"{f}, -{f}" for f in fields)
        raise ValidationError({"query.sort": f"Unknown sort {raw!r}; use one of {choices}."})
    return fields[name], descending


def query_choice(params: Mapping[str, Any], name: str, choices: Mapping[str, Any], default: str) -> Any:
    raw = str(params.get(name) or default)
    if raw not in choices:
        raise ValidationError({f"query.{name}": f"Unknown {name} {raw!r}; use one of {', '.join(choices)}."})
    return choices[raw]


def href(request: Request, **changes: Any) -> str:
    """This request's path and query with some parameters replaced (None removes one)."""
    params = request.query_params.copy()
    for name, value in changes.items():
        params.pop(name, None)
        if value is not None:
            params[name] = str(value)
    query = params.urlencode()
    return f"{request.path}?{query}" if query else request.path


def hal_list(
    request: Request,
    *,
    rel: str,
    items: list[dict[str, Any]],
    start: int,
    total: int,
    next_href: str | None,
    prev_href: str | None,
    **extra: Any,
) -> dict[str, Any]:
    """Informer's envelope: `_links`, `_embedded[rel]`, `start`, `count`, `total` (then anything extra)."""
    links: dict[str, Any] = {"self": {"href": request.get_full_path()}}
    if next_href:
        links["next"] = {"href": next_href}
    if prev_href:
        links["prev"] = {"href": prev_href}
    return {"_links": links, "_embedded": {rel: items}, "start": start, "count": len(items), "total": total, **extra}


def offset_links(request: Request, *, start: int, limit: int, has_next: bool) -> tuple[str | None, str | None]:
    next_href = href(request, start=start + limit, cursor=None) if has_next else None
    prev_href = href(request, start=max(start - limit, 0), cursor=None) if start > 0 else None
    return next_href, prev_href
