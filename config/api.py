"""URLs of the primary API under /api/ (Informer's paths, without trailing slashes, as the seed has them)."""

from __future__ import annotations

from django.urls import path, reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.api import views as alerts
from history.api.export import JobHistoryExportView
from history.api.views import HistoryListView, JobHistoryViewSet
from jobs.api.audit import AuditListView
from jobs.api.backfill import JobBackfillView
from jobs.api.calendars import TeamCalendarsView, TeamCalendarView
from jobs.api.keys import TeamKeysView, TeamKeyView
from jobs.api.manifest import ManifestApplyView, ManifestExportView, ManifestPlanView, ManifestSchemaView
from jobs.api.signing import SigningSecretRotateView, SigningSecretView
from jobs.api.views import JobViewSet

app_name = "api"


class ApiRootView(APIView):
    """Where to start: the collections and the docs (the browsable API shows this page first)."""

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "_links": {
                    "jobs": {"href": reverse("api:job-list")},
                    "history": {"href": reverse("api:history")},
                    "schema": {"href": reverse("api:schema")},
                    "docs": {"href": reverse("api:docs")},
                }
            }
        )


# "index", not "list": drf-spectacular would describe a "list" action's HAL envelope as an array.
jobs = JobViewSet.as_view
history = JobHistoryViewSet.as_view

urlpatterns = [
    path("", ApiRootView.as_view(), name="root"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("jobs", jobs({"get": "index", "post": "create"}), name="job-list"),
    path("jobs/<str:id>", jobs({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}), name="job-detail"),
    path("jobs/<str:id>/pause", jobs({"post": "pause"}), name="job-pause"),
    path("jobs/<str:id>/resume", jobs({"post": "resume"}), name="job-resume"),
    path("jobs/<str:id>/run", history({"post": "run"}), name="job-run"),
    path("jobs/<str:id>/fire-times", jobs({"get": "fire_times"}), name="job-fire-times"),
    path("jobs/<str:id>/backfill", JobBackfillView.as_view(), name="job-backfill"),
    path("jobs/<str:id>/stats", history({"get": "stats"}), name="job-stats"),
    path("jobs/<str:id>/history", history({"get": "index"}), name="job-history"),
    # Literal segments before {historyId}, which would otherwise swallow them.
    path("jobs/<str:id>/history/export", JobHistoryExportView.as_view(), name="job-history-export"),
    path("jobs/<str:id>/history/delete", history({"post": "delete_matching"}), name="job-history-delete"),
    path(
        "jobs/<str:id>/history/<str:historyId>",
        history({"get": "retrieve", "delete": "destroy"}),
        name="job-history-detail",
    ),
    path("jobs/<str:id>/history/<str:historyId>/cancel", history({"post": "cancel"}), name="job-history-cancel"),
    path("jobs/<str:id>/history/<str:historyId>/rerun", history({"post": "rerun"}), name="job-history-rerun"),
    path("history", HistoryListView.as_view(), name="history"),
    path("teams/<slug:team>/keys", TeamKeysView.as_view(), name="team-keys"),
    path("teams/<slug:team>/keys/<str:prefix>", TeamKeyView.as_view(), name="team-key"),
    path("teams/<slug:team>/calendars", TeamCalendarsView.as_view(), name="team-calendars"),
    path("teams/<slug:team>/calendars/<str:calendar>", TeamCalendarView.as_view(), name="team-calendar"),
    path("teams/<slug:team>/signing-secret", SigningSecretView.as_view(), name="team-signing-secret"),
    path(
        "teams/<slug:team>/signing-secret/rotate", SigningSecretRotateView.as_view(), name="team-signing-secret-rotate"
    ),
    path("teams/<slug:team>/channels", alerts.ChannelsView.as_view(), name="team-channels"),
    path("teams/<slug:team>/channels/<str:id>", alerts.ChannelView.as_view(), name="team-channel"),
    path("teams/<slug:team>/channels/<str:id>/test", alerts.ChannelTestView.as_view(), name="team-channel-test"),
    path("teams/<slug:team>/alert-rules", alerts.RulesView.as_view(), name="team-alert-rules"),
    path("teams/<slug:team>/alert-rules/<str:id>", alerts.RuleView.as_view(), name="team-alert-rule"),
    path("teams/<slug:team>/incidents", alerts.IncidentsView.as_view(), name="team-incidents"),
    path("teams/<slug:team>/incidents/<str:id>", alerts.IncidentView.as_view(), name="team-incident"),
    path("teams/<slug:team>/deliveries", alerts.DeliveriesView.as_view(), name="team-deliveries"),
    path("audit", AuditListView.as_view(), name="audit"),
    path("manifest/schema", ManifestSchemaView.as_view(), name="manifest-schema"),
    path("teams/<slug:team>/manifest", ManifestExportView.as_view(), name="team-manifest"),
    path("teams/<slug:team>/manifest/plan", ManifestPlanView.as_view(), name="team-manifest-plan"),
    path("teams/<slug:team>/manifest/apply", ManifestApplyView.as_view(), name="team-manifest-apply"),
]
