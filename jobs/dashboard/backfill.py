"""The Backfill dialog: pick a past range on the job's clock, see how many slots it holds, then confirm."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.dashboard import JOB, dashboard_view, page_context
from history.models import Run
from jobs.backfill import MAX_RATE, backfill_slots, job_backfill
from jobs.models import Job
from jobs.roles import JOB_RUN

_LOCAL = {"type": "datetime-local"}


class BackfillForm(forms.Form):
    start = forms.DateTimeField(label="From", widget=forms.DateTimeInput(attrs=_LOCAL))
    end = forms.DateTimeField(label="To", widget=forms.DateTimeInput(attrs=_LOCAL))
    rate = forms.FloatField(label="Runs a second", initial=1.0, min_value=0.001, max_value=MAX_RATE)

    def range_on(self, job: Job) -> tuple[Any, Any]:
        """The range typed, read on the job's clock (the browser sends wall times)."""
        zone = ZoneInfo(job.timezone or "UTC")
        return tuple(self.cleaned_data[name].replace(tzinfo=None).replace(tzinfo=zone) for name in ("start", "end"))


_FIELDS = {"from": "start", "to": "end", "ratePerSecond": "rate"}


@require_http_methods(["GET", "POST"])
@dashboard_view(permission=JOB_RUN, load=JOB)
def job_backfill_view(request: HttpRequest, job: Job) -> HttpResponse:
    """GET with a range counts its slots (and those that already have a run); POST creates the runs."""
    data = request.POST if request.method == "POST" else (request.GET or None)
    form = BackfillForm(data)
    context: dict[str, Any] = {"job": job, "form": form}
    if data is not None and form.is_valid():
        start, end = form.range_on(job)
        try:
            if request.method == "POST":
                result = job_backfill(
                    job=job, start=start, end=end, rate_per_second=form.cleaned_data["rate"], by=request.user
                )
                messages.success(
                    request,
                    f"Backfill of {job.name}: {len(result.created)} runs created, "
                    f"{len(result.existing)} slots already had a run.",
                )
                return redirect("jobs:detail", job_id=job.pk)
            slots = backfill_slots(job=job, start=start, end=end)
        except ValidationError as exc:
            for key, errors in exc.message_dict.items():
                form.add_error(_FIELDS.get(key, None), errors)
        else:
            taken = Run.objects.filter(job=job, attempt=1, scheduled_for__in=slots).count()
            context.update(slots=slots, taken=taken, new=len(slots) - taken)
    return render(request, "jobs/job_backfill.html", page_context(request, job.team, **context))
