"""What every dashboard view shares: login, the caller as an Actor, the current team, role flags.

Access checks are jobs.access's (the API's own); they raise DRF exceptions, which a plain Django
view would turn into a 500, so `dashboard_view` maps them onto Django's 404 and 403.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import resolve_url
from rest_framework import exceptions

from jobs.access import Actor, actor_for_user
from jobs.models import Team
from jobs.roles import JOB_EDIT, JOB_READ, JOB_RUN, TEAM_ADMIN

SESSION_TEAM = "hourglass_team_id"
_ACTOR_ATTR = "_hourglass_actor"

View = Callable[..., HttpResponseBase]


def dashboard_view(view: View) -> View:
    """Login required (to the dashboard's login page); access errors become 404 / 403 pages."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except exceptions.NotFound as exc:
            raise Http404(str(exc.detail)) from exc
        except exceptions.PermissionDenied as exc:
            raise PermissionDenied(str(exc.detail)) from exc

    signed_in = login_required(wrapper, login_url="login")

    @functools.wraps(view)
    def entry(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if is_htmx(request) and not request.user.is_authenticated:
            # A poll after the session ended: send the whole page to the login form, rather than
            # letting htmx follow the redirect and paste the login page into a table row.
            current = urlsplit(request.headers.get("HX-Current-URL", ""))
            page = current.path + (f"?{current.query}" if current.query else "")
            response = HttpResponse(status=401)
            response["HX-Redirect"] = resolve_url("login") + (f"?{urlencode({'next': page})}" if page else "")
            return response
        return signed_in(request, *args, **kwargs)

    return entry


def actor_of(request: HttpRequest) -> Actor:
    """The signed-in user's permissions per team, computed once per request."""
    actor = getattr(request, _ACTOR_ATTR, None)
    if actor is None:
        actor = actor_for_user(request.user)
        setattr(request, _ACTOR_ATTR, actor)
    return actor


@dataclass(frozen=True)
class Flags:
    """What the caller may do in the page's team; templates show a button only when allowed."""

    can_read: bool = False
    can_run: bool = False
    can_edit: bool = False
    can_admin: bool = False


def flags_for(actor: Actor, team_id: int | None) -> Flags:
    if team_id is None:
        return Flags()
    return Flags(
        can_read=actor.can(team_id, JOB_READ),
        can_run=actor.can(team_id, JOB_RUN),
        can_edit=actor.can(team_id, JOB_EDIT),
        can_admin=actor.can(team_id, TEAM_ADMIN),
    )


def teams_of(actor: Actor) -> list[Team]:
    return list(Team.objects.filter(pk__in=actor.team_ids).order_by("name", "slug"))


def current_team(request: HttpRequest, teams: list[Team]) -> Team | None:
    """The team picked in the switcher (kept in the session), else the one the user joined first.

    Joining another team later (`manage.py addmember`, the admin) does not move a user out of the
    team they work in, whatever the new team's name.
    """
    by_id = {team.pk: team for team in teams}
    chosen = request.session.get(SESSION_TEAM)
    if chosen in by_id:
        return by_id[chosen]
    # The actor holds the user's teams in the order they joined them (jobs.access.actor_for_user).
    first = next((team_id for team_id in actor_of(request).permissions if team_id in by_id), None)
    return by_id.get(first) if first is not None else None


def page_context(request: HttpRequest, team: Team | None, **extra: Any) -> dict[str, Any]:
    """The layout's context: the team switcher and the role flags of the page's team."""
    actor = actor_of(request)
    teams = extra.pop("teams", None)
    if teams is None:
        teams = teams_of(actor)
    return {"team": team, "teams": teams, "flags": flags_for(actor, team.pk if team else None), **extra}


def paginate(items: Any, request: HttpRequest, per_page: int = 25) -> Page:
    """A page of `items`; an out-of-range or malformed ?page= shows the nearest valid page."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"
