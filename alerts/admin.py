"""Admin for alerting: channels (the URL is never shown, only its kind), rules, incidents and the delivery log.

They follow the team roles like jobs (jobs.admin.TeamRoleAdmin): a staff user sees only their teams' rows.
Incidents and deliveries are records: they can be read, not changed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from alerts.models import AlertRule, Channel, Delivery, Incident
from jobs.admin import TeamRoleAdmin
from jobs.roles import TEAM_ADMIN


class ReadOnlyTeamAdmin(TeamRoleAdmin):
    """Read and delete only: writes go through alerts.services (the dashboard and the API)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Channel)
class ChannelAdmin(ReadOnlyTeamAdmin):
    edit_permission = TEAM_ADMIN
    list_display = ["name", "team", "kind", "shown_url", "min_severity", "created_at"]
    list_filter = ["kind", "min_severity"]
    search_fields = ["name", "team__slug"]
    # The URL is write-only: create channels through the dashboard or the API, which seal it.
    fields = ["team", "name", "kind", "shown_url", "min_severity", "created_at"]

    @admin.display(description="URL")
    def shown_url(self, obj: Channel) -> str:
        return obj.shown_url


@admin.register(AlertRule)
class AlertRuleAdmin(ReadOnlyTeamAdmin):
    list_display = ["__str__", "team", "job", "events", "after_failures", "repeat_every_seconds", "enabled"]
    list_filter = ["enabled"]
    fields = [
        "team", "job", "name", "events", "after_failures", "repeat_every_seconds", "quiet_days", "quiet_start",
        "quiet_end", "quiet_timezone", "channels", "enabled", "created_at", "updated_at",
    ]  # fmt: skip


@admin.register(Incident)
class IncidentAdmin(ReadOnlyTeamAdmin):
    list_display = ["job", "team", "status", "opened_at", "closed_at", "failures"]
    list_filter = ["status"]
    list_select_related = ["job", "team"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyTeamAdmin):
    list_display = ["created_at", "team", "channel_name", "event", "severity", "status", "attempts", "error"]
    list_filter = ["status", "event"]
    list_select_related = ["team"]
