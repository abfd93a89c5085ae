from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from jobs import views as job_views

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]

if settings.HOURGLASS_ECHO_ENABLED:
    urlpatterns.append(path("echo/", job_views.echo, name="echo"))
