"""The team page (members, roles, API keys) and the team switcher."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core.dashboard import SESSION_TEAM, Load, actor_of, dashboard_view, page_context
from jobs.access import Actor
from jobs.dashboard.audit_filters import AuditFilterForm
from jobs.models import ApiKey, AuditEntry, Team
from jobs.roles import JOB_READ, PERMISSIONS, TEAM_ADMIN, Role
from jobs.selectors import audit_list, team_get
from jobs.services import apikey_create, apikey_revoke
from jobs.text import CleanTextMixin

SESSION_NEW_KEY = "hourglass_new_key"
SCOPE_HELP = {
    "job:read": "read jobs and runs",
    "job:run": "run jobs now, cancel and rerun runs",
    "job:edit": "create, change and delete jobs; delete runs",
    "team:admin": "manage members and keys",
}


class ApiKeyForm(CleanTextMixin, forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=[(scope, f"{scope} — {SCOPE_HELP[scope]}") for scope in PERMISSIONS],
        widget=forms.CheckboxSelectMultiple,
        initial=["job:read"],
    )
    expires_on = forms.DateField(
        label="Expires on (UTC)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        return datetime.combine(day, time.min, UTC) if day else None


class MemberAddForm(CleanTextMixin, forms.Form):
    who = forms.CharField(
        label="Username or email",
        max_length=254,
        help_text="An existing user is added at once; a new email address gets an invitation to set a password.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


def render_team_page(request: HttpRequest, team: Team, status: int = 200, **extra: Any) -> HttpResponse:
    context = page_context(
        request,
        team,
        memberships=list(team.memberships.select_related("user").order_by("user__username")),
        keys=list(team.api_keys.select_related("created_by")),
        key_form=extra.pop("key_form", None) or ApiKeyForm(),
        member_form=extra.pop("member_form", None) or MemberAddForm(),
        roles=Role.choices,
        now=timezone.now(),
        **extra,
    )
    invalid = context["key_form"].errors or context["member_form"].errors
    return render(request, "jobs/team.html", context, status=400 if invalid else status)


@require_http_methods(["GET"])
@dashboard_view(permission=TEAM_ADMIN)
def team_page(request: HttpRequest, team: Team) -> HttpResponse:
    # A key made on the previous request: its secret is shown on this one page view, then forgotten.
    fresh = request.session.pop(SESSION_NEW_KEY, None)
    key = team.api_keys.filter(pk=fresh["id"]).first() if fresh else None
    return render_team_page(request, team, new_key=key, new_secret=fresh["secret"] if key else "")


@require_POST
@dashboard_view(permission=TEAM_ADMIN)
def apikey_create_view(request: HttpRequest, team: Team) -> HttpResponse:
    """Creates a key; the team page then shows its secret once (only a hash is stored)."""
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            key, secret = apikey_create(
                team=team,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                created_by=request.user,
                expires_at=form.expires_at(),
            )
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                for message in errors:
                    form.add_error(name if name in form.fields else None, message)
        else:
            # Redirect, so a reload cannot post again and make a second key; the secret rides in the
            # session only until the team page has shown it.
            request.session[SESSION_NEW_KEY] = {"id": key.pk, "secret": secret}
            return redirect("jobs:team")
    return render_team_page(request, team, key_form=form)


@require_http_methods(["GET", "POST"])
@dashboard_view(permission=TEAM_ADMIN)
def apikey_revoke_view(request: HttpRequest, team: Team, key_id: int) -> HttpResponse:
    """GET asks for confirmation; POST revokes the key."""
    key = get_object_or_404(ApiKey, pk=key_id, team=team)
    if request.method == "POST":
        apikey_revoke(key=key, by=request.user)
        messages.success(request, f"Revoked the key {key.name}. Requests that use it now get 401.")
        return redirect("jobs:team")
    return render(request, "jobs/apikey_confirm_revoke.html", page_context(request, team, key=key))


AUDIT_PAGE_SIZE = 50


@require_http_methods(["GET"])
@dashboard_view(permission=TEAM_ADMIN)
def audit_page(request: HttpRequest, team: Team) -> HttpResponse:
    """The team's audit log (team admins only), newest first, filtered like GET /api/audit."""
    form = AuditFilterForm(request.GET)
    errors: dict[str, list[str]] = dict(cast("dict[str, list[str]]", form.errors)) if not form.is_valid() else {}
    filters = {**form.audit_filters(), "team": team.slug} if not errors else {}
    try:
        entries = audit_list(actor=actor_of(request), filters=filters) if not errors else AuditEntry.objects.none()
    except ValidationError as exc:
        entries, errors = AuditEntry.objects.none(), exc.message_dict
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = page_context(
        request,
        team,
        page=page,
        errors=errors,
        form=form,
        query=query.urlencode(),
    )
    return render(request, "jobs/audit.html", context, status=400 if errors else 200)


def _team_named(actor: Actor, slug: str | None) -> Team:
    return team_get(actor=actor, slug=slug or "")


@require_POST
@dashboard_view(permission=JOB_READ, load=Load("team", _team_named, "team", field=True))
def team_switch(request: HttpRequest, team: Team) -> HttpResponse:
    request.session[SESSION_TEAM] = team.pk
    # Job and run pages belong to the old team, so the new team starts at its jobs list.
    return redirect("jobs:list")
