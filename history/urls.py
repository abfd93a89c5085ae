"""Dashboard URLs for runs (namespace `history`), mounted at the site root."""

from django.urls import path

from history import feed, matching, views

app_name = "history"

urlpatterns = [
    path("jobs/<uuid:job_id>/runs/new/", views.job_runs_new, name="job-runs-new"),
    path("jobs/<uuid:job_id>/runs/delete/", views.runs_delete_view, name="runs-delete"),
    path("jobs/<uuid:job_id>/runs/export/", matching.runs_export_view, name="job-runs-export"),
    path(
        "jobs/<uuid:job_id>/runs/delete-matching/", matching.runs_delete_matching_view, name="job-runs-delete-matching"
    ),
    # The team's run feed: the same table, its live rows, export and deletes, over every job.
    path("runs/", feed.runs_feed, name="runs"),
    path("runs/new/", views.job_runs_new, name="runs-new"),
    path("runs/export/", matching.runs_export_view, name="runs-export"),
    path("runs/delete/", views.runs_delete_view, name="feed-runs-delete"),
    path("runs/delete-matching/", matching.runs_delete_matching_view, name="runs-delete-matching"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<uuid:run_id>/live/", views.run_live, name="run-live"),
    path("runs/<uuid:run_id>/row/", views.run_row, name="run-row"),
    path("runs/<uuid:run_id>/cancel/", views.run_cancel_view, name="run-cancel"),
    path("runs/<uuid:run_id>/rerun/", views.run_rerun_view, name="run-rerun"),
    path("runs/<uuid:run_id>/delete/", views.run_delete_view, name="run-delete"),
]
