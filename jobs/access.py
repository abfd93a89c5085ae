"""Who may see and do what: the caller as an Actor, job lookup by UUID or natural ID, and the checks.

Visibility and permission are separate on purpose: a job in a team the caller cannot see is 404
(its existence is not revealed); a visible job without the permission is 403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from rest_framework import exceptions
from rest_framework.request import Request

from config.problems import Conflict
from jobs.models import ApiKey, Job, Membership, Team
from jobs.roles import JOB_READ, PERMISSIONS, normalize_scopes, permissions_for

_ACTOR_ATTR = "_hourglass_actor"
# Enough to name the candidates in a 409 without loading every job that shares the name.
_AMBIGUOUS_SHOWN = 20


@dataclass(frozen=True)
class Actor:
    """The caller: a user (session) or an API key, with its permissions per team id."""

    user: Any  # the person to attribute actions to (a key's creator; None for a CLI key)
    key: ApiKey | None = None
    permissions: dict[int, frozenset[str]] = field(default_factory=dict)

    @property
    def team_ids(self) -> list[int]:
        """Teams the caller can see (even with no permission left in them)."""
        return sorted(self.permissions)

    def can(self, team_id: int, permission: str) -> bool:
        return permission in self.permissions.get(team_id, frozenset())

    def team_ids_with(self, permission: str) -> list[int]:
        return sorted(team_id for team_id, perms in self.permissions.items() if permission in perms)


def key_permissions(key: ApiKey) -> frozenset[str]:
    """A key's scopes, bounded by its creator's current role (a CLI-made key has no creator)."""
    try:
        scopes = frozenset(normalize_scopes(list(key.scopes or [])))
    except ValueError:
        scopes = frozenset()
    if key.created_by_id is None:
        return scopes & frozenset(PERMISSIONS)
    role = getattr(key, ApiKey.CREATOR_ROLE, None)  # annotated by jobs.auth.apikey_verify: no second query
    if role is None:
        role = next(iter(ApiKey.creator_role(key.team_id, key.created_by_id)), "")
    return scopes & permissions_for(role or "")


def actor_for_user(user: Any) -> Actor:
    if not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return Actor(user=None)
    # In the order the user joined: the dashboard opens on the first team (core.dashboard.current_team).
    rows = Membership.objects.filter(user_id=user.pk).order_by("created_at", "pk").values_list("team_id", "role")
    return Actor(user=user, permissions={team_id: permissions_for(role) for team_id, role in rows})


def actor_for_key(key: ApiKey) -> Actor:
    return Actor(user=key.created_by, key=key, permissions={key.team_id: key_permissions(key)})


def actor_from_request(request: Request) -> Actor:
    """The Actor for a DRF request, computed once per request."""
    actor = getattr(request, _ACTOR_ATTR, None)
    if actor is None:
        actor = actor_for_key(request.auth) if isinstance(request.auth, ApiKey) else actor_for_user(request.user)
        setattr(request, _ACTOR_ATTR, actor)
    return actor


def require(actor: Actor, team_id: int, permission: str) -> None:
    if team_id not in actor.permissions:
        raise exceptions.NotFound()
    if not actor.can(team_id, permission):
        raise exceptions.PermissionDenied(f"This needs the {permission} permission in this team.")


def require_any(actor: Actor, permission: str) -> list[int]:
    """Team ids where the caller holds `permission`; 403 if it sees teams but holds it in none."""
    team_ids = actor.team_ids_with(permission)
    if actor.permissions and not team_ids:
        raise exceptions.PermissionDenied(f"This needs the {permission} permission.")
    return team_ids


def visible_jobs(actor: Actor) -> Any:
    return Job.objects.filter(team_id__in=actor.team_ids)


# What a list of a job's runs needs of the job: the lookup took 1.16 ms with its 44 columns, 0.64 ms with these.
LISTED_JOB_FIELDS = ("id", "team", "natural_id", "team__slug")


def job_lookup(actor: Actor, ref: str, *, team_id: int | None = None, only: tuple[str, ...] = ()) -> Job:
    """The visible job whose UUID or natural ID is `ref`: 404 if none, 409 naming the UUIDs if several.

    `team_id` narrows the search to one team (a path that names the team cannot be ambiguous);
    `only` loads just those fields (e.g. LISTED_JOB_FIELDS), deferring the rest.
    """
    if not ref or len(ref) > 100 or "\x00" in ref:
        raise exceptions.NotFound(f"No job {ref!r}.")  # no natural ID looks like this; spare the database
    condition = Q(natural_id=ref)
    try:
        condition |= Q(pk=uuid.UUID(ref))
    except ValueError:
        pass
    if team_id is not None:
        condition &= Q(team_id=team_id)
    found = visible_jobs(actor).filter(condition).select_related("team")
    jobs = list((found.only(*only) if only else found)[: _AMBIGUOUS_SHOWN + 1])
    if not jobs:
        raise exceptions.NotFound(f"No job {ref!r}.")
    exact = [job for job in jobs if str(job.pk) == ref]
    if len(jobs) > 1 and len(exact) != 1:
        ids = sorted(str(job.pk) for job in jobs)
        named = ", ".join(f"{job.pk} ({job.team.slug})" for job in sorted(jobs, key=lambda j: str(j.pk)))
        raise Conflict(f"The natural ID {ref!r} matches jobs in several teams; use a UUID: {named}.", jobs=ids)
    return exact[0] if exact else jobs[0]


def job_for_actor(
    actor: Actor, ref: str, permission: str, *, team_id: int | None = None, only: tuple[str, ...] = ()
) -> Job:
    """Resolve `ref` among the caller's jobs, then check `permission` in its team (404 / 409 / 403)."""
    job = job_lookup(actor, ref, team_id=team_id, only=only)
    require(actor, job.team_id, permission)
    return job


def team_for_actor(actor: Actor, slug: str, permission: str) -> Team:
    team = Team.objects.filter(slug=slug, pk__in=actor.team_ids).first()
    if team is None:
        raise exceptions.NotFound(f"No team {slug!r}.")
    require(actor, team.pk, permission)
    return team


def job_list(*, actor: Actor, q: str = "", team: str = "") -> Any:
    """Jobs in the teams where the caller holds job:read, optionally searched and narrowed to a team slug."""
    jobs = Job.objects.filter(team_id__in=actor.team_ids_with(JOB_READ))
    if team:
        jobs = jobs.filter(team__slug=team)
    if q:
        jobs = jobs.filter(Q(natural_id__icontains=q) | Q(name__icontains=q))
    return jobs
