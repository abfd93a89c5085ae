"""The dashboard's manifest pages: Export (the team's jobs as YAML, job:read) and Import (a manifest's plan,
job:read; applied only once the caller confirms the plan they saw, job:edit)."""

from __future__ import annotations

import hashlib
import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from core.dashboard import actor_of, dashboard_view, page_context
from jobs.access import require
from jobs.manifest.apply import manifest_apply, manifest_export
from jobs.manifest.document import ManifestError, dump, parse
from jobs.manifest.plan import Plan, manifest_plan
from jobs.manifest.report import plan_text
from jobs.models import Team
from jobs.roles import JOB_EDIT, JOB_READ


def _no_secrets(name: str) -> str | None:
    # The server's environment is not the caller's: env: references are for the CLI and manage.py jobs.
    return None


def plan_digest(plan: Plan) -> str:
    """What the confirmation is for: applying checks the changes are still the ones shown (not the fire times,
    which move on with the clock)."""
    changes = [(job.natural_id, job.action, [change.as_dict() for change in job.changes]) for job in plan.jobs]
    return hashlib.sha256(json.dumps(changes, sort_keys=True, default=str).encode()).hexdigest()


@require_GET
@dashboard_view(permission=JOB_READ)
def manifest_export_view(request: HttpRequest, team: Team) -> HttpResponse:
    response = HttpResponse(dump(manifest_export(team=team)), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{team.slug}-jobs.yaml"'
    return response


@require_http_methods(["GET", "POST"])
@dashboard_view(permission=JOB_READ)
def manifest_import_view(request: HttpRequest, team: Team) -> HttpResponse:
    context = {"text": "", "prune": False, "plan": None, "problems": [], "digest": ""}
    if request.method == "POST":
        upload = request.FILES.get("file")
        text = upload.read().decode("utf-8", "replace") if upload else request.POST.get("manifest", "")
        prune = request.POST.get("prune") == "on"
        context.update(text=text, prune=prune)
        confirmed = request.POST.get("confirm") == "apply"
        try:
            document = parse(text)
            may_edit = actor_of(request).can(team.pk, JOB_EDIT)
            plan = manifest_plan(
                team=team, document=document, prune=prune, resolve=_no_secrets, compare_secrets=may_edit
            )
            if confirmed:
                require(actor_of(request), team.pk, JOB_EDIT)
                if plan_digest(plan) != request.POST.get("digest"):
                    messages.warning(request, "The team's jobs changed since that plan: review this one.")
                else:
                    applied = manifest_apply(
                        team=team, document=document, prune=prune, resolve=_no_secrets, by=request.user
                    )
                    counts = applied.summary()
                    messages.success(
                        request,
                        f"Applied: {counts['create']} created, {counts['update']} updated, {counts['delete']} deleted.",
                    )
                    return redirect("jobs:list")
            context.update(plan=plan.as_dict(), plan_text=plan_text(plan), digest=plan_digest(plan))
        except ManifestError as exc:
            context["problems"] = exc.problems
    return render(request, "jobs/manifest_import.html", page_context(request, team, **context))
