"""The alerting API's shapes: what a channel, rule, incident and delivery look like, and what a write takes."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from alerts.models import RULE_EVENTS, AlertRule, Channel, Delivery, Incident, Severity
from alerts.rules import incident_url
from core.strict import StrictSerializer
from core.times import iso

# Service field → API field, for the errors a service raises.
API_NAMES = {
    "min_severity": "minSeverity",
    "after_failures": "afterFailures",
    "repeat_every_seconds": "repeatEverySeconds",
    "quiet_days": "quietHours.days",
    "quiet_start": "quietHours.start",
    "quiet_end": "quietHours.end",
    "quiet_timezone": "quietHours.timezone",
}


def channel_item(channel: Channel) -> dict[str, Any]:
    return {
        "id": str(channel.pk),
        "name": channel.name,
        "kind": channel.kind,
        "url": channel.shown_url,
        "minSeverity": channel.min_severity,
        "createdAt": iso(channel.created_at),
    }


def rule_item(rule: AlertRule) -> dict[str, Any]:
    quiet = None
    if rule.quiet_start is not None and rule.quiet_end is not None:
        quiet = {
            "days": list(rule.quiet_days or []),
            "start": rule.quiet_start.strftime("%H:%M"),
            "end": rule.quiet_end.strftime("%H:%M"),
            "timezone": rule.quiet_timezone,
        }
    return {
        "id": str(rule.pk),
        "name": rule.name,
        "job": str(rule.job_id) if rule.job_id else None,
        "events": list(rule.events or []),
        "afterFailures": rule.after_failures,
        "repeatEverySeconds": rule.repeat_every_seconds,
        "quietHours": quiet,
        "channels": [str(channel.pk) for channel in rule.channels.all()],
        "enabled": rule.enabled,
        "createdAt": iso(rule.created_at),
    }


def incident_item(incident: Incident) -> dict[str, Any]:
    return {
        "id": str(incident.pk),
        "job": str(incident.job_id),
        "jobNaturalId": incident.job.natural_id,
        "status": incident.status,
        "openedAt": iso(incident.opened_at),
        "closedAt": iso(incident.closed_at),
        "failures": incident.failures,
        "firstRun": str(incident.first_run_id) if incident.first_run_id else None,
        "lastRun": str(incident.last_run_id) if incident.last_run_id else None,
        "recoveryRun": str(incident.recovery_run_id) if incident.recovery_run_id else None,
        "lastError": incident.last_error,
        "url": incident_url(incident),
    }


def delivery_item(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": str(delivery.pk),
        "channel": str(delivery.channel_id) if delivery.channel_id else None,
        "channelName": delivery.channel_name,
        "rule": str(delivery.rule_id) if delivery.rule_id else None,
        "incident": str(delivery.incident_id) if delivery.incident_id else None,
        "job": str(delivery.job_id) if delivery.job_id else None,
        "run": str(delivery.run_id) if delivery.run_id else None,
        "event": delivery.event,
        "severity": delivery.severity,
        "title": delivery.title,
        "status": delivery.status,
        "error": delivery.error,
        "attempts": delivery.attempts,
        "nextAttemptAt": iso(delivery.next_attempt_at),
        "createdAt": iso(delivery.created_at),
        "deliveredAt": iso(delivery.delivered_at),
    }


class ChannelSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.CharField(help_text="The Apprise service: slack, workflows, pagerduty, json, mailto, ...")
    url = serializers.CharField(help_text="Always redacted (kind://[redacted]): the URL is write-only")
    minSeverity = serializers.ChoiceField(choices=Severity.values)
    createdAt = serializers.DateTimeField()


class ChannelListSerializer(serializers.Serializer):
    channels = ChannelSerializer(many=True)


class ChannelCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=2000, help_text="An Apprise URL, e.g. slack://T/B/C or json://host/path")
    minSeverity = serializers.ChoiceField(choices=Severity.values, default=Severity.INFO)


class DeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    channel = serializers.UUIDField(allow_null=True)
    channelName = serializers.CharField()
    rule = serializers.UUIDField(allow_null=True)
    incident = serializers.UUIDField(allow_null=True)
    job = serializers.UUIDField(allow_null=True)
    run = serializers.UUIDField(allow_null=True)
    event = serializers.CharField()
    severity = serializers.ChoiceField(choices=Severity.values)
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=Delivery.Status.values)
    error = serializers.CharField(allow_blank=True)
    attempts = serializers.IntegerField()
    nextAttemptAt = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField()
    deliveredAt = serializers.DateTimeField(allow_null=True)


class DeliveryListSerializer(serializers.Serializer):
    deliveries = DeliverySerializer(many=True)


class QuietHoursSerializer(StrictSerializer):
    days = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), required=False, default=list)
    start = serializers.CharField(max_length=8, help_text="HH:MM")
    end = serializers.CharField(max_length=8, help_text="HH:MM; before start spans midnight")
    timezone = serializers.CharField(max_length=64, required=False, default="UTC")


class RuleWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    job = serializers.CharField(
        max_length=100, required=False, allow_null=True, help_text="Job UUID or natural ID; null: a team default"
    )
    events = serializers.ListField(child=serializers.ChoiceField(choices=RULE_EVENTS), required=False, min_length=1)
    afterFailures = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    repeatEverySeconds = serializers.IntegerField(
        min_value=60, max_value=7 * 24 * 3600, required=False, allow_null=True
    )
    quietHours = QuietHoursSerializer(required=False, allow_null=True)
    channels = serializers.ListField(child=serializers.CharField(max_length=100), required=False, min_length=1)
    enabled = serializers.BooleanField(required=False)


class RuleSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField(allow_blank=True)
    job = serializers.UUIDField(allow_null=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=RULE_EVENTS))
    afterFailures = serializers.IntegerField()
    repeatEverySeconds = serializers.IntegerField(allow_null=True)
    quietHours = QuietHoursSerializer(allow_null=True)
    channels = serializers.ListField(child=serializers.UUIDField())
    enabled = serializers.BooleanField()
    createdAt = serializers.DateTimeField()


class RuleListSerializer(serializers.Serializer):
    rules = RuleSerializer(many=True)


class IncidentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    job = serializers.UUIDField()
    jobNaturalId = serializers.CharField()
    status = serializers.ChoiceField(choices=Incident.Status.values)
    openedAt = serializers.DateTimeField()
    closedAt = serializers.DateTimeField(allow_null=True)
    failures = serializers.IntegerField()
    firstRun = serializers.UUIDField(allow_null=True)
    lastRun = serializers.UUIDField(allow_null=True)
    recoveryRun = serializers.UUIDField(allow_null=True)
    lastError = serializers.CharField(allow_blank=True)
    url = serializers.CharField(help_text="The incident's dashboard page")


class IncidentListSerializer(serializers.Serializer):
    incidents = IncidentSerializer(many=True)


class IncidentDetailSerializer(IncidentSerializer):
    deliveries = DeliverySerializer(many=True)


def rule_data(validated: dict[str, Any]) -> dict[str, Any]:
    """API fields → the rule service's."""
    names = {"afterFailures": "after_failures", "repeatEverySeconds": "repeat_every_seconds"}
    data = {names.get(key, key): value for key, value in validated.items() if key != "quietHours"}
    if "quietHours" in validated:
        quiet = validated["quietHours"]
        data.update(
            quiet_days=list(quiet.get("days") or []) if quiet else [],
            quiet_start=quiet["start"] if quiet else None,
            quiet_end=quiet["end"] if quiet else None,
            quiet_timezone=quiet.get("timezone") or "UTC" if quiet else "UTC",
        )
    return data
