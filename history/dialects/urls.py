"""The peer dialects, mounted at the site root on the seed pages' own paths (no trailing slashes, as they have them)."""

from django.urls import path

from history.dialects import krafter, northflank, prunner, runwisp, runwisp_notifications

app_name = "dialects"

urlpatterns = [
    path(
        "v1/projects/<str:projectId>/jobs/<str:jobId>/runs",
        northflank.JobRunsView.as_view(),
        name="northflank-job-runs",
    ),
    path("job/detail", prunner.JobDetailView.as_view(), name="prunner-job-detail"),
    path("job/cancel", prunner.JobCancelView.as_view(), name="prunner-job-cancel"),
    path("pipelines/schedule", prunner.PipelinesScheduleView.as_view(), name="prunner-pipelines-schedule"),
    path("api/v1/cron/jobs/<str:id>/executions", krafter.ExecutionsView.as_view(), name="krafter-executions"),
    path("api/tasks/<str:taskName>/runs", runwisp.TaskRunsView.as_view(), name="runwisp-task-runs"),
    path("api/notifications", runwisp_notifications.NotificationsView.as_view(), name="runwisp-notifications"),
]
