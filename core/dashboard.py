"""What every dashboard view shares: login, the caller as an Actor, the current team, role flags.

`dashboard_view` is the dashboard's one access check. It signs the caller in, finds what the page
is about among what the caller can see (the object a URL names, through a `Load`, or else the
current team), and checks the permission the page needs there with jobs.access.require, the
decision the API's permission class makes too: 404 when the caller cannot see it, 403 without the
permission. Access errors raised as DRF exceptions (jobs.selectors) become Django's 404 / 403 pages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, overload
from urllib.parse import urlencode, urlsplit

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import resolve_url
from rest_framework import exceptions

from core.permissions import team_id_of
from jobs.access import Actor, actor_for_user, require
from jobs.models import Job, Team
from jobs.roles import JOB_EDIT, JOB_READ, JOB_RUN, TEAM_ADMIN
from jobs.selectors import job_get, team_list

SESSION_TEAM = "hourglass_team_id"
_ACTOR_ATTR = "_hourglass_actor"
_TEAMS_ATTR = "_hourglass_teams"

View = Callable[..., HttpResponseBase]
# What a page needs: a permission, several (all of them), or one per HTTP method ({"GET": JOB_READ, "POST": JOB_EDIT}).
Needed = str | tuple[str, ...] | Mapping[str, str]


@dataclass(frozen=True)
class Load:
    """The object a page is about: the URL argument that names it, and how to find it among the caller's.

    `find(actor, value)` returns the object (anything with a `team_id`) or raises Http404 / NotFound;
    the view receives it as the keyword `name` instead of the URL argument. With `field`, the value
    is a form or query field (POST, else GET) rather than a URL argument. An `optional` one may be
    absent: the view then gets None for the object. A field's or an optional object's view also
    gets `team`: the object's team, or the current team without the object.
    """

    arg: str
    find: Callable[[Actor, Any], Any]
    name: str
    field: bool = False
    optional: bool = False

    @classmethod
    def among(cls, queryset: QuerySet[Any], arg: str, name: str) -> Load:
        """The object of `queryset` whose pk the URL argument `arg` is, in one of the caller's teams (else 404)."""

        def find(actor: Actor, pk: Any) -> Any:
            found = queryset.filter(pk=pk, team_id__in=actor.team_ids).first()
            if found is None:
                raise Http404(f"No such {name}.")
            return found

        return cls(arg, find, name)


def _job(actor: Actor, job_id: Any) -> Job:
    return job_get(actor=actor, ref=str(job_id))


# The job a /jobs/<uuid:job_id>/… page is about; the view gets `job`.
JOB = Load("job_id", _job, "job")
# A team's page that a `job` field (UUID or natural ID) narrows to one job; the view gets `job` and `team`.
JOB_FIELD = Load("job", _job, "job", field=True, optional=True)
# A run table's page: a job's (/jobs/<uuid:job_id>/…) or, without job_id, the current team's run feed.
JOB_OR_TEAM = Load("job_id", _job, "job", optional=True)


def _needed(needed: Needed | None, request: HttpRequest) -> tuple[str, ...]:
    if needed is None:
        return ()
    if isinstance(needed, str):
        return (needed,)
    if isinstance(needed, tuple):
        return needed
    return (needed["GET" if request.method == "HEAD" else str(request.method)],)


def _checked(view: View, needed: Needed | None, load: Load | None) -> View:
    """Run the view with the object it is about, once the caller's role allows what it needs there."""
    if needed is None and load is None:
        return view

    @functools.wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        actor = actor_of(request)
        value: Any = None
        if load is not None and load.field:
            value = (request.POST if request.method == "POST" else request.GET).get(load.arg) or None
        elif load is not None:
            value = kwargs.pop(load.arg, None)
        found = load is not None and (value is not None or not load.optional)
        obj = load.find(actor, value) if load and found else current_team(request, teams_of(actor, request))
        if obj is None:
            raise Http404("You are not in a team yet.")
        if load is not None:
            kwargs[load.name] = obj if found else None
        if load is None or load.field or load.optional:
            kwargs["team"] = obj if isinstance(obj, Team) else obj.team
        for permission in _needed(needed, request):
            require(actor, team_id_of(obj), permission)
        return view(request, *args, **kwargs)

    return checked


@overload
def dashboard_view(view: View, /) -> View: ...


@overload
def dashboard_view(*, permission: Needed | None = None, load: Load | None = None) -> Callable[[View], View]: ...


def dashboard_view(
    view: View | None = None, /, *, permission: Needed | None = None, load: Load | None = None
) -> View | Callable[[View], View]:
    """Login required (to the dashboard's login page); access errors become 404 / 403 pages.

    With `permission` the page needs it in the team of what it is about: the object `load` finds
    (the view receives it by `load.name`), or else the current team (the view receives `team`).
    """
    if view is None:
        return functools.partial(_dashboard_view, permission=permission, load=load)
    return _dashboard_view(view, permission=permission, load=load)


def _dashboard_view(view: View, *, permission: Needed | None, load: Load | None) -> View:
    inner = _checked(view, permission, load)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return inner(request, *args, **kwargs)
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


def teams_of(actor: Actor, request: HttpRequest | None = None) -> list[Team]:
    """The caller's teams by name (the switcher's list); with `request`, read once per request."""
    teams = getattr(request, _TEAMS_ATTR, None) if request is not None else None
    if teams is None:
        teams = list(team_list(actor=actor).order_by("name", "slug"))
        if request is not None:
            setattr(request, _TEAMS_ATTR, teams)
    return teams


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
        teams = teams_of(actor, request)
    return {"team": team, "teams": teams, "flags": flags_for(actor, team.pk if team else None), **extra}


def paginate(items: Any, request: HttpRequest, per_page: int = 25) -> Page:
    """A page of `items`; an out-of-range or malformed ?page= shows the nearest valid page."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"
