"""A short in-process cache of verified API keys, invalidated in every process at once.

Looking a key up costs a query (the key, its team, its creator and the creator's role) on every
API request. Each process keeps the rows it loaded for KEY_TTL_S, tagged with the version of
the key data it read in the shared cache (Redis, or var/cache without it) just before its
query. Anything that can change what a key may do (the key itself, its creator's account or
memberships, its team) bumps that version once its transaction commits, so the very next
request in any process sees a new version and queries again: a revoked key is refused at once.

The version is read before the query, so a process that read the old rows carries the old
version, and one that reads the new version queries after the commit. When the shared cache
cannot answer (Redis down: it fails open), nothing is served from memory.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from jobs.models import ApiKey, Membership, Team

VERSION_KEY = "apikeys:version"
# Also the longest a key is served from memory when the version is not bumped (a raw SQL change).
KEY_TTL_S = 10.0
MAX_ENTRIES = 10_000

_keys: dict[str, tuple[Any, float, ApiKey]] = {}  # prefix → (version, loaded at, key with team/creator/role)


def current_version() -> Any:
    """The shared version of the key data, or None when the shared cache cannot say."""
    version = cache.get(VERSION_KEY)
    if version is None:
        # First use, or evicted: start from a value no earlier version can have had.
        cache.add(VERSION_KEY, uuid.uuid4().int >> 80, timeout=None)
        version = cache.get(VERSION_KEY)
    return version


def cached_key(prefix: str, version: Any) -> ApiKey | None:
    if version is None:
        return None
    entry = _keys.get(prefix)
    if entry is None or entry[0] != version or time.monotonic() - entry[1] > KEY_TTL_S:
        return None
    return entry[2]


def remember(prefix: str, version: Any, key: ApiKey) -> None:
    if version is None:
        return
    if len(_keys) >= MAX_ENTRIES:
        _keys.clear()
    _keys[prefix] = (version, time.monotonic(), key)


def _bump() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # no version yet (or the cache is unavailable): nothing can be tagged with one
        cache.delete(VERSION_KEY)


def keys_changed() -> None:
    """Every process's cached keys are stale once the current transaction commits (this one's at once)."""
    _keys.clear()
    transaction.on_commit(_bump)


# Cache coherence, not business rules: these catch every write path (services, admin, shell).
@receiver(post_save, sender=ApiKey, dispatch_uid="key_cache_apikey_saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="key_cache_apikey_deleted")
@receiver(post_save, sender=Membership, dispatch_uid="key_cache_membership_saved")
@receiver(post_delete, sender=Membership, dispatch_uid="key_cache_membership_deleted")
@receiver(post_save, sender=Team, dispatch_uid="key_cache_team_saved")
@receiver(post_delete, sender=Team, dispatch_uid="key_cache_team_deleted")
@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="key_cache_user_saved")
@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="key_cache_user_deleted")
def _key_data_changed(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("update_fields") == frozenset({"last_login"}):
        return  # a sign-in changes nothing a key may do
    keys_changed()
