"""Dashboard URLs for alerting (namespace `alerts`), mounted at the site root."""

from django.urls import path

from alerts.dashboard import views

app_name = "alerts"

urlpatterns = [
    path("alerts/", views.channels_page, name="channels"),
    path("alerts/channels/", views.channel_create_view, name="channel-create"),
    path("alerts/channels/<uuid:channel_id>/test/", views.channel_test_view, name="channel-test"),
    path("alerts/channels/<uuid:channel_id>/delete/", views.channel_delete_view, name="channel-delete"),
    path("alerts/rules/", views.rule_create_view, name="rule-create"),
    path("alerts/rules/<uuid:rule_id>/delete/", views.rule_delete_view, name="rule-delete"),
    path("alerts/deliveries/", views.deliveries_page, name="deliveries"),
    path("incidents/", views.incidents_page, name="incidents"),
    path("incidents/<uuid:incident_id>/", views.incident_detail, name="incident-detail"),
]
