"""The audit log: who did what to which object of a team, when and from where.

Services call `audit_record`; the request (for the IP address and the API key that acted) comes
from the view's `request=` or, failing that, from `AuditRequestMiddleware`, which remembers the
current request in a context variable so services keep their narrow signatures.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from jobs.models import ApiKey, AuditEntry, Membership, Team

_current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "hourglass_audit_request", default=None
)
# Set by ApiKeyAuthentication on the underlying Django request, so the log names the key, not its creator.
KEY_ATTR = "hourglass_api_key"
# Keys of `details` never stored, whatever a caller passes.
_SECRET_WORDS = ("secret", "password", "token", "authorization", "key_material", "raw")


class AuditRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


def remember_key(request: Any, key: ApiKey) -> None:
    """Mark the Django request behind a DRF request as made with `key`."""
    setattr(getattr(request, "_request", request), KEY_ATTR, key)


def client_ip(request: Any) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is the client's to forge unless a trusted proxy rewrites it.
    return (getattr(request, "META", {}) or {}).get("REMOTE_ADDR") or None


def _clean(details: dict[str, Any] | None) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name, value in (details or {}).items():
        if any(word in str(name).lower() for word in _SECRET_WORDS):
            continue
        cleaned[str(name)] = value
    return cleaned


def audit_record(
    *,
    team: Team | int,
    action: str,
    target: Any = None,
    target_type: str = "",
    target_id: Any = "",
    target_label: str = "",
    details: dict[str, Any] | None = None,
    actor: Any = None,
    request: Any = None,
) -> AuditEntry:
    """Append one entry. `actor` is the user the service was given; a key on the request wins."""
    if request is None:
        request = _current_request.get()
    django_request = getattr(request, "_request", request)
    key = getattr(django_request, KEY_ATTR, None) if django_request is not None else None
    user = None
    if key is None:
        if actor is not None and getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None):
            user = actor
        elif django_request is not None:
            candidate = getattr(django_request, "user", None)
            if getattr(candidate, "is_authenticated", False) and getattr(candidate, "pk", None):
                user = candidate
    if key is not None:
        label = f"key:{key.prefix}"
    elif user is not None:
        label = user.get_username()
    else:
        label = "system"
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or target.pk
        target_label = target_label or str(getattr(target, "natural_id", "") or getattr(target, "name", "") or target)
    return AuditEntry.objects.create(
        team_id=team.pk if isinstance(team, Team) else team,
        actor_user=user,
        actor_key=key,
        actor_label=label[:200],
        action=action,
        target_type=target_type[:50],
        target_id=str(target_id)[:100],
        target_label=str(target_label)[:200],
        details=_clean(details),
        ip_address=client_ip(django_request) if django_request is not None else None,
    )


# --- Member changes, from wherever they come (services, commands, the admin and its inline) ---------


@receiver(pre_save, sender=Membership, dispatch_uid="audit_membership_pre_save")
def _membership_before(sender: Any, instance: Membership, **kwargs: Any) -> None:
    previous = Membership.objects.filter(pk=instance.pk).values_list("role", flat=True).first() if instance.pk else None
    instance._audit_previous_role = previous  # type: ignore[attr-defined]  # a note for the post_save receiver, not a model field


@receiver(post_save, sender=Membership, dispatch_uid="audit_membership_post_save")
def _membership_saved(sender: Any, instance: Membership, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return  # loaddata
    previous = getattr(instance, "_audit_previous_role", None)
    if not created and previous == instance.role:
        return
    audit_record(
        team=instance.team_id,
        action=AuditEntry.Action.MEMBER_ADD if created else AuditEntry.Action.MEMBER_CHANGE,
        target=instance,
        target_label=instance.user.get_username(),
        details={"role": instance.role, "previous_role": None if created else previous},
    )


@receiver(post_delete, sender=Membership, dispatch_uid="audit_membership_post_delete")
def _membership_deleted(sender: Any, instance: Membership, origin: Any = None, **kwargs: Any) -> None:
    if not (isinstance(origin, Membership) or getattr(origin, "model", None) is Membership):
        return  # the team or the user is being deleted: no entry can outlive (or point at) a deleted team
    audit_record(
        team=instance.team_id,
        action=AuditEntry.Action.MEMBER_REMOVE,
        target=instance,
        target_label=instance.user.get_username(),
        details={"role": instance.role},
    )
