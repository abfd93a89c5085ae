from __future__ import annotations

from django.contrib import admin

from jobs.models import ApiKey, Job, JobStep, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]
    exclude = ["signing_secret", "previous_signing_secret"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["team", "user", "role", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["team__slug", "user__username", "user__email"]
    list_select_related = ["team", "user"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "team", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["team"]
    search_fields = ["name", "prefix", "team__slug"]
    list_select_related = ["team"]
    readonly_fields = ["prefix", "secret_hash", "created_at", "last_used_at"]


class JobStepInline(admin.StackedInline):
    model = JobStep
    extra = 0


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["natural_id", "name", "team", "schedule_kind", "schedule_text", "enabled", "next_run_at"]
    list_filter = ["enabled", "schedule_kind", "overlap_policy", "team"]
    search_fields = ["natural_id", "name", "description", "team__slug"]
    list_select_related = ["team"]
    readonly_fields = ["id", "next_run_at", "created_at", "updated_at", "created_by"]
    inlines = [JobStepInline]

    @admin.display(description="Schedule")
    def schedule_text(self, obj: Job) -> str:
        return obj.schedule_text
