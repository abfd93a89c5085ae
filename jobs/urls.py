"""Dashboard URLs for jobs and the team (namespace `jobs`), mounted at the site root."""

from django.urls import path

from jobs.dashboard import backfill, calendars, edit, jobs, manifest, members, probe, signing, team

app_name = "jobs"

urlpatterns = [
    path("", jobs.job_list, name="list"),
    path("jobs/new/", edit.job_create_view, name="create"),
    path("jobs/preview/", edit.schedule_preview, name="schedule-preview"),
    path("jobs/test-request/", probe.probe_view, name="test-request-new"),
    path("jobs/export/", manifest.manifest_export_view, name="manifest-export"),
    path("jobs/import/", manifest.manifest_import_view, name="manifest-import"),
    path("jobs/<uuid:job_id>/", jobs.job_detail, name="detail"),
    path("jobs/<uuid:job_id>/test-request/", probe.probe_job_view, name="test-request"),
    path("jobs/<uuid:job_id>/edit/", edit.job_edit_view, name="edit"),
    path("jobs/<uuid:job_id>/run/", jobs.job_run_now, name="run-now"),
    path("jobs/<uuid:job_id>/pause/", jobs.job_set_enabled_view, {"enabled": False}, name="pause"),
    path("jobs/<uuid:job_id>/resume/", jobs.job_set_enabled_view, {"enabled": True}, name="resume"),
    path("jobs/<uuid:job_id>/delete/", jobs.job_delete_view, name="delete"),
    path("jobs/<uuid:job_id>/backfill/", backfill.job_backfill_view, name="backfill"),
    path("team/calendars/", calendars.calendar_list_view, name="calendars"),
    path("team/calendars/<uuid:calendar_id>/delete/", calendars.calendar_delete_view, name="calendar-delete"),
    path("team/", team.team_page, name="team"),
    path("team/switch/", team.team_switch, name="team-switch"),
    path("team/keys/", team.apikey_create_view, name="apikey-create"),
    path("team/keys/<int:key_id>/revoke/", team.apikey_revoke_view, name="apikey-revoke"),
    path("team/audit/", team.audit_page, name="audit"),
    path("team/members/", members.member_add_view, name="member-add"),
    path("team/members/<int:membership_id>/role/", members.member_role_view, name="member-role"),
    path("team/members/<int:membership_id>/remove/", members.member_remove_view, name="member-remove"),
    path("team/signing-secret/", signing.signing_secret_page, name="signing-secret"),
    path("team/signing-secret/rotate/", signing.signing_secret_rotate_view, name="signing-secret-rotate"),
]
