"""Admin for teams, members, keys and jobs.

Jobs (and runs, in history.admin) follow the team roles, as the API and dashboard do: a staff
user sees only their teams' objects and may change or delete them only as an editor there, and
Django's own model permissions cannot widen that. A superuser sees and does everything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from history.models import Run
from history.services import run_trigger
from jobs.access import Actor, actor_for_user
from jobs.calendar_services import calendars_prefetch
from jobs.models import ApiKey, AuditEntry, Job, JobStep, Membership, Team
from jobs.roles import JOB_EDIT, JOB_READ, JOB_RUN, TEAM_ADMIN
from jobs.secrets import shown_config
from jobs.services import job_set_enabled, job_update
from jobs.steps import validate_steps
from jobs.text import CleanJSONField, CleanTextMixin
from jobs.write import FIELDS, SCHEDULE_PATHS, job_validate

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_ACTOR_ATTR = "_hourglass_admin_actor"
# JSON in the admin's forms: a refused value (NUL, lone surrogate) can be shown again (jobs.text).
JSON_FIELDS: dict[type[models.Field], dict[str, Any]] = {models.JSONField: {"form_class": CleanJSONField}}


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]
    exclude = ["signing_secret", "previous_signing_secret", "previous_signing_secret_expires_at"]


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


class TeamRoleAdmin(admin.ModelAdmin):
    """Permissions from the user's role in the object's team (see the module docstring)."""

    edit_permission = JOB_EDIT

    def actor(self, request: HttpRequest) -> Actor:
        actor = getattr(request, _ACTOR_ATTR, None)
        if actor is None:
            actor = actor_for_user(request.user)
            setattr(request, _ACTOR_ATTR, actor)
        return actor

    def allowed(self, request: HttpRequest, permission: str, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return True
        if not (request.user.is_active and request.user.is_staff):
            return False
        actor = self.actor(request)
        if obj is None:  # list pages and actions: allowed in at least one team
            return bool(actor.team_ids_with(permission))
        return actor.can(obj.team_id, permission)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(team_id__in=self.actor(request).team_ids)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.allowed(request, JOB_READ)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allowed(request, JOB_READ, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.allowed(request, self.edit_permission)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allowed(request, self.edit_permission, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allowed(request, self.edit_permission, obj)

    def has_run_permission(self, request: HttpRequest) -> bool:
        return self.allowed(request, JOB_RUN)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        """Back to the list, which the user can still read: Django sends a user without the change
        permission (every user, for read-only runs) to the admin's index instead."""
        response = super().response_delete(request, obj_display, obj_id)
        if not isinstance(response, HttpResponseRedirect) or not self.has_view_permission(request):
            return response
        opts = self.opts
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name)
        context: dict[str, Any] = {"preserved_filters": self.get_preserved_filters(request), "opts": opts}
        return HttpResponseRedirect(add_preserved_filters(context, changelist))


class JobStepFormSet(BaseInlineFormSet):
    def steps(self) -> list[dict[str, Any]]:
        return [
            {key: form.cleaned_data.get(key) for key in ("name", "kind", "depends_on", "run_if", "config")}
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]

    def clean(self) -> None:
        """The same step rules as the API and the dashboard (names, URLs, dependency cycles)."""
        super().clean()
        steps = self.steps()
        if steps:
            try:
                validate_steps(steps)
            except ValidationError as exc:
                raise ValidationError([f"{key}: {m}" for key, ms in exc.message_dict.items() for m in ms]) from exc


class JobStepAdminForm(CleanTextMixin, forms.ModelForm):
    """A step's config with its secret header values as the placeholder, which keeps them when saved unchanged."""

    class Meta:
        model = JobStep
        fields = "__all__"  # noqa: DJ007 - the inline lists the model's fields

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["config"] = shown_config(self.instance.config, self.instance.job.secret_headers or ())


class JobStepInline(admin.StackedInline):
    model = JobStep
    form = JobStepAdminForm
    formset = JobStepFormSet
    formfield_overrides = JSON_FIELDS
    extra = 0


class JobAdminForm(CleanTextMixin, forms.ModelForm):
    class Meta:
        model = Job
        fields = "__all__"  # noqa: DJ007 - the admin chooses the fields (readonly_fields, fieldsets)

    def clean(self) -> dict[str, Any]:
        """The job service's verdict on every field, as the API and the dashboard get it (the steps
        are the inline's, checked by JobStepFormSet)."""
        data = super().clean()
        team = data.get("team") or (self.instance.team if self.instance.team_id else None)
        fields = {path: data[path] for path in FIELDS if path in data and path not in self.errors}
        fields = {path: value for path, value in fields.items() if value is not None or path not in SCHEDULE_PATHS}
        if team is None:
            return data
        try:
            _, self.schedule, _ = job_validate(
                team=team, job=self.instance if self.instance.pk else None, fields=fields, steps=None
            )
        except ValidationError as exc:
            for key, errors in exc.message_dict.items():
                if key != "steps":  # a new job's steps come from the inline
                    self.add_error(key if key in self.fields else None, errors)
        return data


@admin.register(Job)
class JobAdmin(TeamRoleAdmin):
    form = JobAdminForm
    formfield_overrides = JSON_FIELDS
    list_display = ["natural_id", "name", "team", "schedule_kind", "schedule_text", "enabled", "next_run_at"]
    list_filter = ["enabled", "schedule_kind", "overlap_policy", ("team", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["natural_id", "name", "description", "team__slug"]
    list_select_related = ["team"]
    readonly_fields = ["id", "next_run_at", "created_at", "updated_at", "created_by"]
    inlines = [JobStepInline]
    actions = ["run_now", "pause", "resume"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The schedule's description names the job's calendars.
        return super().get_queryset(request).prefetch_related(calendars_prefetch())

    @admin.display(description="Schedule")
    def schedule_text(self, obj: Job) -> str:
        return obj.schedule_text

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "team" and not request.user.is_superuser:
            kwargs["queryset"] = Team.objects.filter(pk__in=self.actor(request).team_ids_with(JOB_EDIT))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Job, form: JobAdminForm, change: bool) -> None:
        if not change:
            obj.created_by = cast("User", request.user)  # the admin serves signed-in staff only
        super().save_model(request, obj, form, change)
        # Normalises the schedule and recomputes next_run_at, as every other way of editing a job does.
        job_update(job=obj, schedule=form.schedule)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not JobStep:
            return super().save_formset(request, form, formset, change)
        # Steps are saved by the job service, as from the API and the dashboard: it keeps a stored secret
        # for the placeholder only on the same step, header and origin, and says what it dropped.
        job = job_update(job=form.instance, steps=validate_steps(formset.steps()))
        for dropped in job.dropped_secrets:
            messages.warning(request, f"Dropped the stored value of the secret header {dropped}")
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return None

    def _each(self, request: HttpRequest, queryset: QuerySet[Job], permission: str) -> list[Job]:
        jobs = [job for job in queryset.select_related("team") if self.allowed(request, permission, job)]
        skipped = queryset.count() - len(jobs)
        if skipped:
            messages.warning(request, f"Skipped {skipped} job(s): your role in their team does not allow it.")
        return jobs

    @admin.action(description="Run the selected jobs now", permissions=["run"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        jobs = self._each(request, queryset, JOB_RUN)
        for job in jobs:
            run_trigger(job=job, by=request.user, triggered_by=Run.Trigger.DASHBOARD)
        messages.success(request, f"Started {len(jobs)} run(s).")

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[Job], enabled: bool) -> None:
        jobs = self._each(request, queryset, JOB_EDIT)
        for job in jobs:
            job_set_enabled(job=job, enabled=enabled)
        messages.success(request, f"{'Resumed' if enabled else 'Paused'} {len(jobs)} job(s).")

    @admin.action(description="Pause the selected jobs", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._set_enabled(request, queryset, enabled=False)

    @admin.action(description="Resume the selected jobs", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._set_enabled(request, queryset, enabled=True)


@admin.register(AuditEntry)
class AuditEntryAdmin(TeamRoleAdmin):
    """Read-only: entries are append-only, written by the services (jobs.audit.audit_record)."""

    list_display = ["created_at", "team", "actor_label", "action", "target_type", "target_label", "ip_address"]
    list_filter = ["action"]  # not "team": its choices would list every team, the caller's or not
    search_fields = ["actor_label", "target_label", "target_id"]
    list_select_related = ["team"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(team_id__in=self.actor(request).team_ids_with(TEAM_ADMIN))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.allowed(request, TEAM_ADMIN)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.allowed(request, TEAM_ADMIN, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
