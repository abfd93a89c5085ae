from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from jobs import views as job_views

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("config.api")),
    path("api-auth/", include("rest_framework.urls")),
]

# Unmatched URLs under /api/ answer problem+json like every other API error.
handler404 = "config.problems.page_not_found"
handler500 = "config.problems.server_error"

if settings.HOURGLASS_ECHO_ENABLED:
    urlpatterns.append(path("echo/", job_views.echo, name="echo"))
