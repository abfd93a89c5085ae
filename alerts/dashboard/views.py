"""Alerting in the dashboard: the team's channels (with "Send a test alert"), rules, incidents, delivery log.

Members see them (job:read); team admins add, test and delete channels; editors add and delete rules.
"""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from alerts.dashboard.forms import ChannelForm, RuleForm
from alerts.models import AlertRule, Channel, Delivery, Incident
from alerts.services import channel_create, channel_delete, channel_test, rule_delete, rule_save
from core.dashboard import JOB_FIELD, Load, dashboard_view, page_context, paginate
from history.models import Run
from jobs.models import Job, Team
from jobs.roles import JOB_EDIT, JOB_READ, TEAM_ADMIN


def _render_channels(request: HttpRequest, team: Team, status: int = 200, **extra: Any) -> Any:
    context = page_context(
        request,
        team,
        channels=list(Channel.objects.filter(team=team)),
        rules=list(AlertRule.objects.filter(team=team, job__isnull=True).prefetch_related("channels")),
        deliveries=list(Delivery.objects.filter(team=team).select_related("incident")[:20]),
        channel_form=extra.pop("channel_form", None) or ChannelForm(),
        rule_form=extra.pop("rule_form", None) or RuleForm(team=team),
        **extra,
    )
    return render(request, "alerts/channels.html", context, status=status)


@require_GET
@dashboard_view(permission=JOB_READ)
def channels_page(request: HttpRequest, team: Team) -> HttpResponse:
    return _render_channels(request, team)


@require_POST
@dashboard_view(permission=TEAM_ADMIN)
def channel_create_view(request: HttpRequest, team: Team) -> HttpResponse:
    form = ChannelForm(request.POST)
    if form.is_valid():
        try:
            channel = channel_create(team=team, by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, f"Added the channel “{channel.name}”. Send it a test alert to check it.")
            return redirect("alerts:channels")
    return _render_channels(request, team, status=400, channel_form=form)


def _channel(team: Team, channel_id: UUID) -> Channel:
    channel = Channel.objects.filter(team=team, pk=channel_id).select_related("team").first()
    if channel is None:
        raise Http404("No such channel.")
    return channel


@require_POST
@dashboard_view(permission=TEAM_ADMIN)
def channel_test_view(request: HttpRequest, team: Team, channel_id: UUID) -> HttpResponse:
    result = channel_test(channel=_channel(team, channel_id), by=request.user)
    return _render_channels(request, team, test_result=result)


@require_POST
@dashboard_view(permission=TEAM_ADMIN)
def channel_delete_view(request: HttpRequest, team: Team, channel_id: UUID) -> HttpResponse:
    channel = _channel(team, channel_id)
    if request.POST.get("confirm") != "yes":
        context = page_context(request, team, channel=channel, rules=channel.rules.count())
        return render(request, "alerts/channel_confirm_delete.html", context)
    channel_delete(channel=channel)
    messages.success(request, f"Deleted the channel “{channel.name}”.")
    return redirect("alerts:channels")


@require_POST
@dashboard_view(permission=JOB_EDIT, load=JOB_FIELD)
def rule_create_view(request: HttpRequest, team: Team, job: Job | None) -> HttpResponse:
    """A team default rule (from the channels page), or a job's own (from the job page: `job` in the form)."""
    form = RuleForm(request.POST, team=team)
    if form.is_valid():
        try:
            rule_save(team=team, data={**form.service_data(), "job": job})
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, "Saved the alert rule.")
            return redirect("jobs:detail", job_id=job.pk) if job else redirect("alerts:channels")
    if job is not None:
        messages.error(request, "The alert rule was not saved: " + "; ".join(_form_errors(form)))
        return redirect("jobs:detail", job_id=job.pk)
    return _render_channels(request, team, status=400, rule_form=form)


def _form_errors(form: RuleForm) -> list[str]:
    return [f"{form.fields[name].label or name if name in form.fields else ''}: {' '.join(errors)}".lstrip(": ")
            for name, errors in cast("dict[str, list[str]]", form.errors).items()]  # fmt: skip


@require_POST
@dashboard_view(permission=JOB_EDIT, load=Load.among(AlertRule.objects.select_related("job"), "rule_id", "rule"))
def rule_delete_view(request: HttpRequest, rule: AlertRule) -> HttpResponse:
    back: tuple[str, dict[str, Any]] = (
        ("jobs:detail", {"job_id": rule.job_id}) if rule.job_id else ("alerts:channels", {})
    )
    if request.POST.get("confirm") != "yes":
        context = page_context(request, rule.team, rule=rule, back_url=reverse(back[0], kwargs=back[1]))
        return render(request, "alerts/rule_confirm_delete.html", context)
    rule_delete(rule=rule)
    messages.success(request, "Deleted the alert rule.")
    return redirect(back[0], **back[1])


@require_GET
@dashboard_view(permission=JOB_READ, load=JOB_FIELD)
def incidents_page(request: HttpRequest, team: Team, job: Job | None) -> HttpResponse:
    """The team's incidents, open first; ?job= narrows them to one job, ?status= to open or closed."""
    incidents = Incident.objects.filter(team=team).select_related("job").order_by("status", "-opened_at")
    if job is not None:
        incidents = incidents.filter(job=job)
    status = request.GET.get("status", "")
    if status in Incident.Status.values:
        incidents = incidents.filter(status=status)
    context = page_context(request, team, page=paginate(incidents, request), job=job, status=status)
    return render(request, "alerts/incidents.html", context)


@require_GET
@dashboard_view(permission=JOB_READ, load=Load.among(Incident.objects.select_related("job"), "incident_id", "incident"))
def incident_detail(request: HttpRequest, incident: Incident) -> HttpResponse:
    runs = Run.objects.filter(job_id=incident.job_id, finished_at__gte=incident.opened_at)
    if incident.closed_at is not None:
        runs = runs.filter(finished_at__lte=incident.closed_at)
    context = page_context(
        request,
        incident.job.team,
        incident=incident,
        runs=list(runs.order_by("-finished_at")[:50]),
        deliveries=list(incident.deliveries.all()),
    )
    return render(request, "alerts/incident_detail.html", context)


@require_GET
@dashboard_view(permission=JOB_READ)
def deliveries_page(request: HttpRequest, team: Team) -> HttpResponse:
    deliveries = Delivery.objects.filter(team=team).select_related("incident", "job")
    status = request.GET.get("status", "")
    if status in Delivery.Status.values:
        deliveries = deliveries.filter(status=status)
    context = page_context(request, team, page=paginate(deliveries, request, 50), status=status)
    return render(request, "alerts/deliveries.html", context)


def job_alerts(job: Job, flags: Any) -> dict[str, Any]:
    """The job page's alerting section: the rules that cover it, its latest incidents, a form for a new rule."""
    # One query for both (the channels' only when there are rules): a job's own rules replace the team's defaults.
    rules = AlertRule.objects.filter(Q(job=job) | Q(team_id=job.team_id, job__isnull=True)).prefetch_related("channels")
    own = [rule for rule in rules if rule.job_id is not None]
    defaults = [] if own else [rule for rule in rules if rule.job_id is None]
    return {
        "alert_rules": own,
        "default_rules": defaults,
        "incidents": list(Incident.objects.filter(job=job).order_by("-opened_at")[:5]),
        "rule_form": RuleForm(team=job.team) if flags.can_edit else None,
    }
