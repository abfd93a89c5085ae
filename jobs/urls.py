"""Dashboard URLs for jobs and the team (namespace `jobs`), mounted at the site root."""

from django.urls import path

from jobs.dashboard import edit, jobs, team

app_name = "jobs"

urlpatterns = [
    path("", jobs.job_list, name="list"),
    path("jobs/new/", edit.job_create_view, name="create"),
    path("jobs/preview/", edit.schedule_preview, name="schedule-preview"),
    path("jobs/<uuid:job_id>/", jobs.job_detail, name="detail"),
    path("jobs/<uuid:job_id>/edit/", edit.job_edit_view, name="edit"),
    path("jobs/<uuid:job_id>/run/", jobs.job_run_now, name="run-now"),
    path("jobs/<uuid:job_id>/pause/", jobs.job_set_enabled_view, {"enabled": False}, name="pause"),
    path("jobs/<uuid:job_id>/resume/", jobs.job_set_enabled_view, {"enabled": True}, name="resume"),
    path("jobs/<uuid:job_id>/delete/", jobs.job_delete_view, name="delete"),
    path("team/", team.team_page, name="team"),
    path("team/switch/", team.team_switch, name="team-switch"),
    path("team/keys/", team.apikey_create_view, name="apikey-create"),
    path("team/keys/<int:key_id>/revoke/", team.apikey_revoke_view, name="apikey-revoke"),
    path("team/audit/", team.audit_page, name="audit"),
]
