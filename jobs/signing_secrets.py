"""A team's signing secret: shown to team admins, rotated with a grace period. The dashboard, the API and
the signingsecret command call these; the engine reads the secrets with jobs.engine.signing.team_secrets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jobs.audit import audit_record
from jobs.engine.signing import team_secrets
from jobs.models import AuditEntry, Team, new_sealed_signing_secret

# How long the previous secret keeps signing after a rotation, unless the caller says otherwise.
SIGNING_GRACE_DEFAULT = timedelta(hours=24)
SIGNING_GRACE_MAX = timedelta(days=7)


@dataclass(frozen=True)
class SigningSecrets:
    """A team's signing secrets, opened: what a team admin is shown."""

    current: str
    previous: str = ""
    previous_expires_at: datetime | None = None


def _signing_secrets(team: Team) -> SigningSecrets:
    now = timezone.now()
    current = team_secrets(team.signing_secret, now=now)
    if not current:
        raise ValidationError(
            "The signing secret cannot be opened (was HOURGLASS_ENCRYPTION_KEY changed?): rotate it to make a new one."
        )
    previous = team_secrets("", team.previous_signing_secret, team.previous_signing_secret_expires_at, now=now)
    expires = team.previous_signing_secret_expires_at if previous else None
    return SigningSecrets(current[0], previous[0] if previous else "", expires)


def signing_secret_reveal(*, team: Team, by: Any = None) -> SigningSecrets:
    """The team's signing secrets in clear text (team admins only: the caller checks); each look is audited."""
    secrets_now = _signing_secrets(team)
    audit_record(team=team, action=AuditEntry.Action.SIGNING_SECRET_VIEW, target=team, actor=by)
    return secrets_now


def signing_secret_rotate(*, team: Team, by: Any = None, grace: timedelta = SIGNING_GRACE_DEFAULT) -> SigningSecrets:
    """A new secret signs from now on; the current one keeps signing beside it for `grace` (0: stops at once)."""
    if not timedelta(0) <= grace <= SIGNING_GRACE_MAX:
        raise ValidationError({"grace": f"Give a grace period from 0 to {SIGNING_GRACE_MAX.days} days."})
    now = timezone.now()
    with transaction.atomic():
        locked = Team.objects.select_for_update().get(pk=team.pk)
        locked.previous_signing_secret = locked.signing_secret if grace else ""
        locked.previous_signing_secret_expires_at = now + grace if grace else None
        locked.signing_secret = new_sealed_signing_secret()
        locked.save(update_fields=["signing_secret", "previous_signing_secret", "previous_signing_secret_expires_at"])
        expires = locked.previous_signing_secret_expires_at
        audit_record(
            team=locked,
            action=AuditEntry.Action.SIGNING_SECRET_ROTATE,
            target=locked,
            actor=by,
            details={
                "grace_seconds": int(grace.total_seconds()),
                "previous_valid_until": expires.isoformat() if expires else None,
            },
        )
    team.signing_secret = locked.signing_secret
    team.previous_signing_secret = locked.previous_signing_secret
    team.previous_signing_secret_expires_at = expires
    return _signing_secrets(team)
