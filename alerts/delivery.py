"""Sending recorded alerts through Apprise, off the executor: claim, send every channel at once, write back.

- A delivery is claimed with a conditional UPDATE (pending and due → sending, attempts + 1, a lease
  in next_attempt_at), so two workers never send the same attempt; a worker that dies mid-send
  leaves a lapsed lease that the sweep turns back into a due delivery.
- The claimed deliveries are sent concurrently, each in a thread of its own with its own timeouts,
  and no database work in those threads: a channel that hangs holds only its own delivery.
- A failed attempt is retried with exponential backoff (HOURGLASS_ALERT_BACKOFF_SECONDS, doubling)
  until HOURGLASS_ALERT_MAX_ATTEMPTS; then the delivery is `failed`, with the last error kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from alerts.models import Channel, Delivery
from alerts.targets import apprise_log, guard_for, guarded, instantiate, kind_of, scrub
from jobs.crypto import decrypt_value
from jobs.engine.ssrf import TargetPolicy

logger = logging.getLogger(__name__)


def max_attempts() -> int:
    return int(getattr(settings, "HOURGLASS_ALERT_MAX_ATTEMPTS", 5))


def backoff(attempts: int) -> timedelta:
    base = float(getattr(settings, "HOURGLASS_ALERT_BACKOFF_SECONDS", 30))
    return timedelta(seconds=min(base * 2 ** max(0, attempts - 1), 3600))


def send_timeout() -> float:
    return float(getattr(settings, "HOURGLASS_ALERT_TIMEOUT_SECONDS", 10))


def lease() -> timedelta:
    return timedelta(seconds=send_timeout() * 3 + 30)


@dataclass(frozen=True)
class Attempt:
    """What a sending thread needs: plain values, no model instances."""

    delivery_id: str
    url: str
    title: str
    body: str
    severity: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str = ""
    duration_ms: int = 0


_NOTIFY_TYPES = {"info": "info", "warning": "warning", "error": "failure", "critical": "failure"}


def send(url: str, title: str, body: str, severity: str = "info", policy: TargetPolicy | None = None) -> Outcome:
    """One notification through Apprise, within the address policy and the service's hosts."""
    started = time.monotonic()
    kind = kind_of(url)
    try:
        plugin = instantiate(url)
    except ValueError as exc:
        return Outcome(False, str(exc))
    timeout = send_timeout()
    plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout or timeout), timeout)
    plugin.socket_read_timeout = min(float(plugin.socket_read_timeout or timeout), timeout)
    guard = guard_for(plugin, kind, policy)
    with guarded(guard), apprise_log.capture() as lines:
        try:
            ok = bool(plugin.notify(body=body, title=title, notify_type=_NOTIFY_TYPES.get(severity, "info")))
        except Exception as exc:  # a plugin's bug is that channel's failure, nothing more
            ok, lines = False, [*lines, f"{type(exc).__name__}: {exc}"]
    elapsed = round((time.monotonic() - started) * 1000)
    if ok:
        return Outcome(True, "", elapsed)
    error = guard.blocked[0] if guard.blocked else ("; ".join(lines[-3:]) or f"The {kind}:// service refused it.")
    return Outcome(False, scrub(error, url)[:2000], elapsed)


def claim(delivery_ids: Iterable[str], now: datetime) -> list[Attempt]:
    """Take the due ones among these deliveries for one attempt each; returns what to send."""
    ids = [str(pk) for pk in delivery_ids]
    due = Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
    claimed: list[Attempt] = []
    rows = Delivery.objects.filter(due, pk__in=ids).select_related("channel")
    for delivery in rows:
        taken = Delivery.objects.filter(due, pk=delivery.pk).update(
            status=Delivery.Status.SENDING, attempts=delivery.attempts + 1, next_attempt_at=now + lease()
        )
        if not taken:
            continue
        channel: Channel | None = delivery.channel
        if channel is None:
            _finish(delivery.pk, delivery.attempts + 1, Outcome(False, "The channel was deleted."), now, final=True)
            continue
        try:
            url = decrypt_value(channel.url)
        except ValueError as exc:
            _finish(delivery.pk, delivery.attempts + 1, Outcome(False, str(exc)), now, final=True)
            continue
        claimed.append(
            Attempt(str(delivery.pk), url, delivery.title, delivery.body, delivery.severity, delivery.attempts + 1)
        )
    return claimed


def _finish(delivery_id: Any, attempts: int, outcome: Outcome, now: datetime, *, final: bool = False) -> str:
    if outcome.ok:
        status, fields = Delivery.Status.DELIVERED, {"delivered_at": now, "next_attempt_at": None, "error": ""}
    elif final or attempts >= max_attempts():
        status, fields = Delivery.Status.FAILED, {"next_attempt_at": None, "error": outcome.error}
    else:
        status, fields = Delivery.Status.PENDING, {"next_attempt_at": now + backoff(attempts), "error": outcome.error}
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(status=status, **fields)
    return status


def deliver(delivery_ids: Iterable[str], now: datetime | None = None) -> dict[str, str]:
    """Send the due deliveries among these ids; returns each one's status after this attempt."""
    attempts = claim(delivery_ids, now or timezone.now())
    if not attempts:
        return {}
    workers = min(len(attempts), int(getattr(settings, "HOURGLASS_ALERT_CONCURRENCY", 8)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alert") as pool:
        outcomes = list(pool.map(lambda a: send(a.url, a.title, a.body, a.severity), attempts))
    done = timezone.now()
    statuses = {}
    for attempt, outcome in zip(attempts, outcomes, strict=True):
        statuses[attempt.delivery_id] = _finish(attempt.delivery_id, attempt.attempts, outcome, done)
        if not outcome.ok:
            logger.warning(
                "alert delivery failed: %s",
                outcome.error,
                extra={"delivery_id": attempt.delivery_id, "status": statuses[attempt.delivery_id]},
            )
    return statuses


def due_deliveries(now: datetime, limit: int = 500) -> list[str]:
    """Deliveries to attempt now: pending and due, or claimed by a worker whose lease lapsed (it died)."""
    lapsed = Delivery.objects.filter(status=Delivery.Status.SENDING, next_attempt_at__lt=now)
    for delivery in lapsed.only("pk", "attempts")[:limit]:
        final = delivery.attempts >= max_attempts()
        Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING, next_attempt_at__lt=now).update(
            status=Delivery.Status.FAILED if final else Delivery.Status.PENDING,
            next_attempt_at=None if final else now,
            error="The worker stopped while sending.",
        )
    due = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).order_by("next_attempt_at")
    return [str(pk) for pk in due.values_list("pk", flat=True)[:limit]]
