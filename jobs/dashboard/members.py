"""Team members in the dashboard (team admins): add or invite, change a role, remove.

A new user invited by email gets no password; the invitation carries a link to Django's
set-password page (the password-reset confirmation), valid as long as PASSWORD_RESET_TIMEOUT.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.http import require_http_methods, require_POST

from core.dashboard import dashboard_view, page_context
from core.errors import Conflict
from jobs.dashboard.team import MemberAddForm, render_team_page
from jobs.models import Membership, Team
from jobs.roles import TEAM_ADMIN, Role
from jobs.services import member_add, member_change_role, member_remove


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


def _send_invitation(request: HttpRequest, membership: Membership) -> None:
    user = membership.user
    link = request.build_absolute_uri(
        reverse(
            "password_reset_confirm",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        )
    )
    send_mail(
        f"You are invited to {membership.team.name} on Hourglass",
        f"{request.user.get_username()} added you to the team {membership.team.name}"
        f" as {membership.get_role_display()}.\n\n"
        f"Set your password here, then log in as {user.get_username()}:\n{link}\n",
        None,
        [user.email],
    )


def _errors_on(form: forms.Form, exc: ValidationError, field_of: dict[str, str]) -> None:
    for name, errors in exc.message_dict.items():
        for message in errors:
            target = field_of.get(name, name)
            form.add_error(target if target in form.fields else None, message)


@require_POST
@dashboard_view(permission=TEAM_ADMIN)
def member_add_view(request: HttpRequest, team: Team) -> HttpResponse:
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            membership, created = member_add(team=team, who=form.cleaned_data["who"], role=form.cleaned_data["role"])
        except ValidationError as exc:
            _errors_on(form, exc, {"username": "who", "email": "who"})
        else:
            name, role = membership.user.get_username(), membership.get_role_display()
            if created:
                _send_invitation(request, membership)
                messages.success(
                    request, f"Invited {name} as {role}: an email with a link to set a password is on its way."
                )
            else:
                messages.success(request, f"Added {name} as {role}.")
            return redirect("jobs:team")
    return render_team_page(request, team, member_form=form)


def _membership(team: Team, membership_id: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user", "team"), pk=membership_id, team=team)


@require_POST
@dashboard_view(permission=TEAM_ADMIN)
def member_role_view(request: HttpRequest, team: Team, membership_id: int) -> HttpResponse:
    membership = _membership(team, membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return redirect("jobs:team")
    try:
        changed = member_change_role(membership=membership, role=form.cleaned_data["role"])
    except Conflict as exc:
        messages.error(request, exc.message)
        return render_team_page(request, team, status=409)
    messages.success(request, f"{changed.user.get_username()} is now {changed.get_role_display()}.")
    return redirect("jobs:team")


@require_http_methods(["GET", "POST"])
@dashboard_view(permission=TEAM_ADMIN)
def member_remove_view(request: HttpRequest, team: Team, membership_id: int) -> HttpResponse:
    """GET asks for confirmation; POST removes the member (never the last admin)."""
    membership = _membership(team, membership_id)
    context = page_context(request, team, membership=membership)
    if request.method == "POST":
        try:
            member_remove(membership=membership)
        except Conflict as exc:
            context["error"] = exc.message
            return render(request, "jobs/member_confirm_remove.html", context, status=409)
        messages.success(request, f"Removed {membership.user.get_username()} from {team.name}.")
        if membership.user_id == request.user.pk:
            return redirect("jobs:list")  # no longer an admin here
        return redirect("jobs:team")
    return render(request, "jobs/member_confirm_remove.html", context)
