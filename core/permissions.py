"""The API's and the dialects' permission checks, as DRF permission classes over the role table.

A view says what each of its actions needs: `required` (on the job, team or run it acts on, checked
by has_object_permission) and `required_in_some_team` (a list across the caller's teams, checked by
has_permission). The decision is jobs.access.require's, the one the dashboard's decorator makes too:
404 when the object's team is not the caller's (its existence is not revealed), 403 when the
caller's role or key scope lacks the permission there.

core.api.TeamScopedView gives views the lookups that end in that check: `visible_job`, `visible_team`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from jobs.access import actor_from_request, require, require_any
from jobs.models import Team


def _action(request: Request, view: Any) -> str:
    """A viewset's action ("retrieve"), else the HTTP method ("GET"; HEAD reads as GET)."""
    action = getattr(view, "action", None)
    if action:
        return str(action)
    return "GET" if request.method == "HEAD" else str(request.method)


def team_id_of(obj: Any) -> int:
    return int(obj.pk if isinstance(obj, Team) else obj.team_id)


class TeamRole(BasePermission):
    """What the view's `required` / `required_in_some_team` say this action needs, by the caller's role."""

    def has_permission(self, request: Request, view: Any) -> bool:
        needed = getattr(view, "required_in_some_team", {}).get(_action(request, view))
        if needed and request.user and request.user.is_authenticated:
            require_any(actor_from_request(request), needed)
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        needed = getattr(view, "required", {}).get(_action(request, view))
        if needed is None:  # a view that checks an object must say what its action needs
            raise ImproperlyConfigured(
                f"{type(view).__name__} has no `required` permission for {_action(request, view)}"
            )
        require(actor_from_request(request), team_id_of(obj), needed)
        return True
