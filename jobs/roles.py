"""Team roles and the permissions each one grants: the one place that maps them."""

from __future__ import annotations

from django.db import models

JOB_READ = "job:read"
JOB_RUN = "job:run"
JOB_EDIT = "job:edit"
TEAM_ADMIN = "team:admin"

PERMISSIONS = (JOB_READ, JOB_RUN, JOB_EDIT, TEAM_ADMIN)

# Scope names other tools use for the same permissions (Krafter's cron:* scopes).
SCOPE_ALIASES = {"cron:read": JOB_READ, "cron:write": JOB_EDIT}


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({JOB_READ}),
    Role.OPERATOR: frozenset({JOB_READ, JOB_RUN}),
    Role.EDITOR: frozenset({JOB_READ, JOB_RUN, JOB_EDIT}),
    Role.ADMIN: frozenset({JOB_READ, JOB_RUN, JOB_EDIT, TEAM_ADMIN}),
}


def permissions_for(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def normalize_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """Resolve aliases and reject unknown scopes; keeps a stable, de-duplicated order."""
    resolved: list[str] = []
    for raw in scopes:
        scope = SCOPE_ALIASES.get(raw.strip(), raw.strip())
        if scope not in PERMISSIONS:
            known = ", ".join(PERMISSIONS + tuple(SCOPE_ALIASES))
            raise ValueError(f"unknown scope {raw!r} (known: {known})")
        if scope not in resolved:
            resolved.append(scope)
    return resolved
