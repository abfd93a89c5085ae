"""The team's signing secret in the dashboard (team admins): show it on request, rotate it."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from core.dashboard import dashboard_view, page_context
from jobs.engine.signing import HEADER
from jobs.models import Team
from jobs.roles import TEAM_ADMIN
from jobs.signing_secrets import SIGNING_GRACE_DEFAULT, signing_secret_reveal, signing_secret_rotate

GRACE_CHOICES = [
    (str(int(SIGNING_GRACE_DEFAULT.total_seconds())), "24 hours (recommended)"),
    ("3600", "1 hour"),
    (str(7 * 24 * 3600), "7 days"),
    ("0", "No grace: the old secret stops signing at once"),
]


class RotateForm(forms.Form):
    grace = forms.TypedChoiceField(
        label="The old secret keeps signing for", choices=GRACE_CHOICES, coerce=int, initial=GRACE_CHOICES[0][0]
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


@never_cache
@require_http_methods(["GET", "POST"])
@dashboard_view(permission=TEAM_ADMIN)
def signing_secret_page(request: HttpRequest, team: Team) -> HttpResponse:
    """GET shows whether a rotation is under way; POST (the Show button) also shows the secrets, audited."""
    revealed = None
    if request.method == "POST":
        try:
            revealed = signing_secret_reveal(team=team, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    previous_until = team.previous_signing_secret_expires_at if team.previous_signing_secret else None
    context = page_context(
        request,
        team,
        revealed=revealed,
        header=HEADER,
        in_grace=bool(team.previous_signing_secret) and (previous_until is None or previous_until > timezone.now()),
        previous_until=previous_until,
        rotate_form=RotateForm(),
    )
    return render(request, "jobs/signing_secret.html", context)


@require_POST
@dashboard_view(permission=TEAM_ADMIN)
def signing_secret_rotate_view(request: HttpRequest, team: Team) -> HttpResponse:
    """The first POST asks for confirmation; the confirmed one rotates."""
    form = RotateForm(request.POST)
    if not form.is_valid():
        context = page_context(request, team, rotate_form=form, header=HEADER)
        return render(request, "jobs/signing_secret.html", context, status=400)
    grace = timedelta(seconds=form.cleaned_data["grace"])
    label = dict(GRACE_CHOICES)[str(form.cleaned_data["grace"])]
    if not form.cleaned_data["confirm"]:
        context = page_context(request, team, grace=form.cleaned_data["grace"], grace_label=label)
        return render(request, "jobs/signing_secret_confirm.html", context)
    rotated = signing_secret_rotate(team=team, by=request.user, grace=grace)
    if rotated.previous:
        messages.success(
            request,
            f"Rotated the signing secret. The old one also signs for {label.split(' (')[0]}: "
            "give your targets the new one before then.",
        )
    else:
        messages.success(request, "Rotated the signing secret. The old one no longer signs.")
    return redirect("jobs:signing-secret")
