from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.health import healthz
from config.metrics import metrics
from config.security import ThrottledLoginView, throttle_login
from jobs import views as job_views

urlpatterns = [
    path(
        "accounts/login/",
        ThrottledLoginView.as_view(redirect_authenticated_user=True, next_page="jobs:list"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    # Where an invited member sets a password (jobs.dashboard.members sends the link).
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("", include("jobs.urls")),
    path("", include("history.urls")),
    path("", include("alerts.urls")),
    # Every sign-in form shares the dashboard's brute-force throttle.
    path("admin/login/", throttle_login(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    # The peer dialects (Northflank, prunner, Krafter, RunWisp) on the paths their seed pages give.
    path("", include("history.dialects.urls")),
    path("api/", include("config.api")),
    path(
        "api-auth/",
        include(
            (
                [
                    path(
                        "login/",
                        throttle_login(auth_views.LoginView.as_view(template_name="rest_framework/login.html")),
                        name="login",
                    ),
                    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
                ],
                "rest_framework",
            )
        ),
    ),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
]

if settings.HOURGLASS_ECHO_ENABLED:
    urlpatterns.append(path("echo/", job_views.echo, name="echo"))
