from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from history.models import Run, RunStep


class RunStepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    can_delete = False
    fields = ["name", "status", "http_status", "exit_code", "error", "started_at", "finished_at", "duration_ms"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "job",
        "team",
        "status",
        "end_reason",
        "attempt",
        "triggered_by",
        "scheduled_for",
        "started_at",
        "duration_ms",
        "lateness_ms",
        "http_status",
    ]
    list_filter = ["status", "end_reason", "triggered_by", "team", "job"]
    search_fields = ["id", "run_name", "job__natural_id", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["job", "team"]
    inlines = [RunStepInline]
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Run | None = None) -> list[str]:
        return [field.name for field in Run._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False
