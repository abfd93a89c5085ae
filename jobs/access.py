"""Who may see and do what: the caller as an Actor, with its permissions per team from the role table.

Visibility and permission are separate on purpose: a job in a team the caller cannot see is 404
(its existence is not revealed); a visible job without the permission is 403. `require` is that
decision; the API's permission class (core.permissions.TeamRole) and the dashboard's decorator
(core.dashboard.dashboard_view) both make it through here. What the caller can see starts from the
selectors (jobs.selectors.job_list, history.selectors.run_list).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request

from jobs.models import ApiKey, Membership
from jobs.roles import PERMISSIONS, normalize_scopes, permissions_for

_ACTOR_ATTR = "_hourglass_actor"


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
