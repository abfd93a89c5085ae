"""Run admin: read-only, limited to the staff user's teams; deleting needs the editor role in the run's team."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from history.models import Run, RunStep
from history.services import run_delete, runs_delete
from jobs.admin import TeamRoleAdmin
from jobs.roles import JOB_EDIT


class RunStepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    can_delete = False
    fields = ["name", "status", "http_status", "exit_code", "error", "started_at", "finished_at", "duration_ms"]
    readonly_fields = cast("list[str]", fields)

    def has_add_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(TeamRoleAdmin):
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
    list_filter = [
        "status",
        "end_reason",
        "triggered_by",
        # Only the jobs and teams of the runs listed, so no other team's names leak into the sidebar.
        ("team", admin.RelatedOnlyFieldListFilter),
        ("job", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["=id", "run_name", "job__natural_id", "job__name", "error"]
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

    def has_delete_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        """Editor or admin in the run's team, and never a pending or running run."""
        if obj is not None and obj.is_active:
            return False
        return self.allowed(request, JOB_EDIT, obj)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        run = self.get_object(request, unquote(object_id))
        if run is not None and run.is_active and self.allowed(request, JOB_EDIT, run):
            # The role allows it; the run's state does not: say so, rather than the 403 page's "your role".
            raise PermissionDenied(
                f"This run is {run.status}: a run can be deleted once it has ended. Cancel it first to end it now."
            )
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request: HttpRequest, obj: Run) -> None:
        run_delete(run=obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        # The confirmation page has checked each run already; narrowing again guards the write itself.
        allowed = queryset if request.user.is_superuser else queryset.filter(team_id__in=self._edit_teams(request))
        runs_delete(queryset=allowed, by=request.user)
        kept = queryset.count()  # re-evaluated: what is left (a run that started in the meantime)
        if kept:
            messages.warning(request, f"Kept {kept} run(s) that are still pending or running.")

    def _edit_teams(self, request: HttpRequest) -> list[Any]:
        return self.actor(request).team_ids_with(JOB_EDIT)
