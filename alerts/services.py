"""Writes for alerting: channels (create, test, delete) and rules (save, delete). The API, the dashboard and
the admin all validate through these, and only render their errors."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from alerts import delivery
from alerts.models import RULE_EVENTS, AlertRule, Channel, Delivery, Event, Severity
from alerts.targets import instantiate, kind_of
from jobs.crypto import encrypt_value
from jobs.models import Job, Team

MIN_REPEAT_SECONDS = 60
MAX_REPEAT_SECONDS = 7 * 24 * 3600


def channel_create(*, team: Team, name: str, url: str, min_severity: str = Severity.INFO, by: Any = None) -> Channel:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = ["Give the channel a name of 1 to 100 characters."]
    elif Channel.objects.filter(team=team, name=name).exists():
        errors["name"] = [f"The team already has a channel named {name!r}."]
    try:
        instantiate(url or "")
    except ValueError as exc:
        errors["url"] = [str(exc)]
    if min_severity not in Severity.values:
        errors["min_severity"] = [f"Choose one of {', '.join(Severity.values)}."]
    if errors:
        raise ValidationError(errors)
    return Channel.objects.create(
        team=team,
        name=name,
        kind=kind_of(url),
        url=encrypt_value(url.strip()),
        min_severity=min_severity,
        created_by=by if getattr(by, "pk", None) else None,
    )


def channel_delete(*, channel: Channel) -> None:
    channel.delete()  # its deliveries stay in the log, with the channel's name


def channel_test(*, channel: Channel, by: Any = None) -> Delivery:
    """Send a test alert now, once (no retry), and return its delivery as it ended."""
    who = by.get_username() if getattr(by, "pk", None) else "Hourglass"
    now = timezone.now()
    test = Delivery.objects.create(
        team_id=channel.team_id,
        channel=channel,
        channel_name=channel.name,
        event=Event.TEST,
        severity=Severity.INFO,
        title="Hourglass: test alert",
        body=f"A test alert for the channel {channel.name!r} of team {channel.team.slug}, sent by {who}.",
        next_attempt_at=now,
        created_at=now,
    )
    delivery.deliver([str(test.pk)], now)
    Delivery.objects.filter(pk=test.pk, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED, next_attempt_at=None
    )
    test.refresh_from_db()
    return test


def _time(value: Any, field: str, errors: dict[str, list[str]]) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        errors[field] = ["Give a time of day as HH:MM."]
        return None


def _validated(team: Team, data: Mapping[str, Any], rule: AlertRule | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    current = {
        "job": rule.job if rule else None,
        "name": rule.name if rule else "",
        "events": list(rule.events) if rule else [Event.FAILURE, Event.RECOVERY],
        "after_failures": rule.after_failures if rule else 1,
        "repeat_every_seconds": rule.repeat_every_seconds if rule else None,
        "quiet_days": list(rule.quiet_days) if rule else [],
        "quiet_start": rule.quiet_start if rule else None,
        "quiet_end": rule.quiet_end if rule else None,
        "quiet_timezone": rule.quiet_timezone if rule else "UTC",
        "enabled": rule.enabled if rule else True,
        "channels": list(rule.channels.all()) if rule else [],
    }
    values = {**current, **{key: value for key, value in data.items() if key in current}}
    job = values["job"]
    if job is not None and not isinstance(job, Job):
        job = Job.objects.filter(team=team, pk=job).first() if _is_uuid(job) else None
        job = job or Job.objects.filter(team=team, natural_id=str(values["job"])).first()
        if job is None:
            errors["job"] = [f"The team has no job {values['job']!r}."]
    elif job is not None and job.team_id != team.pk:
        errors["job"] = ["The job belongs to another team."]
    values["job"] = job
    if len(str(values["name"] or "")) > 100:
        errors["name"] = ["At most 100 characters."]
    events = values["events"]
    if not isinstance(events, list | tuple) or not events or any(e not in RULE_EVENTS for e in events):
        errors["events"] = [f"Choose one or more of {', '.join(RULE_EVENTS)}."]
    else:
        values["events"] = list(dict.fromkeys(events))
    after = values["after_failures"]
    if not isinstance(after, int) or isinstance(after, bool) or not 1 <= after <= 1000:
        errors["after_failures"] = ["A whole number from 1 to 1000."]
    repeat = values["repeat_every_seconds"]
    if repeat is not None and (
        not isinstance(repeat, int)
        or isinstance(repeat, bool)
        or not MIN_REPEAT_SECONDS <= repeat <= MAX_REPEAT_SECONDS
    ):
        errors["repeat_every_seconds"] = [
            f"Leave it empty (once per incident) or give {MIN_REPEAT_SECONDS} to {MAX_REPEAT_SECONDS} seconds."
        ]
    days = values["quiet_days"]
    if not isinstance(days, list | tuple) or any(not isinstance(d, int) or not 0 <= d <= 6 for d in days):
        errors["quiet_days"] = ["Weekdays as numbers, 0 (Monday) to 6 (Sunday)."]
    else:
        values["quiet_days"] = sorted(set(days))
    values["quiet_start"] = _time(values["quiet_start"], "quiet_start", errors)
    values["quiet_end"] = _time(values["quiet_end"], "quiet_end", errors)
    if (values["quiet_start"] is None) != (values["quiet_end"] is None) and not {"quiet_start", "quiet_end"} & set(
        errors
    ):
        errors["quiet_end" if values["quiet_start"] else "quiet_start"] = ["Quiet hours need both a start and an end."]
    elif values["quiet_start"] is not None and values["quiet_start"] == values["quiet_end"]:
        errors["quiet_end"] = ["The quiet hours end when they start: give a window."]
    try:
        ZoneInfo(str(values["quiet_timezone"] or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        errors["quiet_timezone"] = [f"Unknown time zone {values['quiet_timezone']!r}: use an IANA name."]
    values["channels"] = _channels(team, values["channels"], errors)
    if not isinstance(values["enabled"], bool):
        errors["enabled"] = ["true or false."]
    if errors:
        raise ValidationError(errors)
    return values


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _channels(team: Team, refs: Any, errors: dict[str, list[str]]) -> list[Channel]:
    if not isinstance(refs, list | tuple) or not refs:
        errors["channels"] = ["Choose at least one channel of the team."]
        return []
    found: list[Channel] = []
    for ref in refs:
        if isinstance(ref, Channel):
            channel = ref if ref.team_id == team.pk else None
        elif _is_uuid(ref):
            channel = Channel.objects.filter(team=team, pk=ref).first()
        else:
            channel = Channel.objects.filter(team=team, name=str(ref)).first()
        if channel is None:
            errors["channels"] = [f"The team has no channel {str(ref)!r}."]
            return []
        found.append(channel)
    return list(dict.fromkeys(found))


def rule_save(*, team: Team, data: Mapping[str, Any], rule: AlertRule | None = None) -> AlertRule:
    """Create a rule (rule=None) or change one: only the fields in `data` change."""
    values = _validated(team, data, rule)
    channels: Sequence[Channel] = values.pop("channels")
    with transaction.atomic():
        if rule is None:
            rule = AlertRule(team=team)
        for field, value in values.items():
            setattr(rule, field, value)
        rule.quiet_timezone = rule.quiet_timezone or "UTC"
        rule.name = rule.name or ""
        rule.save()
        rule.channels.set(channels)
    return rule


def rule_delete(*, rule: AlertRule) -> None:
    rule.delete()
