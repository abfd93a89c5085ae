"""Dashboard forms for jobs. They only parse what was typed; the rules live in jobs.services,
whose field-keyed ValidationErrors `apply_errors` puts back on the fields that caused them."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.forms import BaseFormSet, formset_factory

from jobs import schedules
from jobs.models import Job, JobStep
from jobs.services import schedule_from_input
from jobs.steps import DEFAULT_TIMEOUT_MS, HTTP_METHODS, RUN_IF

# Service error keys ("schedule.seconds") → the form fields that hold that input.
SCHEDULE_FIELDS = {
    "kind": "schedule_kind",
    "expression": "cron_expression",
    "timezone": "timezone",
    "seconds": "interval_seconds",
    "at": "run_at",
}
STEP_FIELDS = ("name", "kind", "run_if", "depends_on", "method", "url", "headers", "body", "timeout_ms")
STEP_FIELDS += ("recipients", "subject", "after_failures")
_STEP_KEY_RE = re.compile(r"^steps\[(\d+)\](?:\.config)?(?:\.(\w+))?$")
_LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class ScheduleForm(forms.Form):
    schedule_kind = forms.ChoiceField(label="Runs", choices=Job.Kind.choices, initial="cron", widget=forms.RadioSelect)
    cron_expression = forms.CharField(
        label="Cron expression",
        required=False,
        max_length=200,
        help_text="minute hour day-of-month month day-of-week, e.g. */15 * * * *",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
    )
    timezone = forms.CharField(
        label="Timezone",
        initial="UTC",
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"list": "tz-list", "autocomplete": "off"}),
    )
    interval_seconds = forms.IntegerField(label="Every (seconds)", required=False, min_value=1)
    run_at = forms.DateTimeField(
        label="Run at",
        required=False,
        help_text="The one-off time, or when an interval starts; read in the timezone given.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )

    def schedule(self) -> schedules.Schedule:
        """The validated schedule; a ValidationError keyed like the service's ("schedule.expression")."""
        data = self.cleaned_data
        zone = data.get("timezone") or "UTC"
        run_at = data.get("run_at")
        if run_at is not None:
            try:
                # The browser sends a wall time; read it on the job's clock, not the server's.
                run_at = run_at.astimezone(UTC).replace(tzinfo=None).replace(tzinfo=ZoneInfo(zone))
            except (ValueError, KeyError) as exc:
                raise ValidationError({"schedule.timezone": f"Unknown timezone {zone!r}."}) from exc
        return schedule_from_input(
            kind=data.get("schedule_kind") or "",
            expression=data.get("cron_expression") or "",
            timezone_name=zone,
            seconds=data.get("interval_seconds"),
            at=run_at,
        )


class JobForm(ScheduleForm):
    natural_id = forms.CharField(
        label="ID", max_length=100, help_text="Letters, digits, '.', '_' and '-'; unique in the team."
    )
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the ID.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    retry_limit = forms.IntegerField(label="Retries", min_value=0, max_value=100, initial=0)
    backoff_strategy = forms.ChoiceField(label="Backoff", choices=Job.Backoff.choices, initial="exponential")
    backoff_base_seconds = forms.IntegerField(label="Backoff base (s)", min_value=0, initial=10)
    overlap_policy = forms.ChoiceField(label="If still running", choices=Job.Overlap.choices, initial="allow")
    misfire_grace_seconds = forms.IntegerField(label="Misfire grace (s)", min_value=0, initial=60)
    success_statuses = forms.CharField(label="Success statuses", initial="200-299", max_length=200)
    success_body_contains = forms.CharField(label="Body must contain", required=False, max_length=500)
    success_body_regex = forms.CharField(label="Body must match (regex)", required=False, max_length=500)
    success_max_latency_ms = forms.IntegerField(label="Max latency (ms)", required=False, min_value=1)
    follow_redirects = forms.BooleanField(label="Follow redirects", required=False)
    keep_runs = forms.IntegerField(label="Keep newest runs", min_value=1, initial=100)
    keep_days = forms.IntegerField(label="Keep days", required=False, min_value=1)
    keep_failed_days = forms.IntegerField(label="Keep failures (days)", required=False, min_value=1)
    variables = forms.JSONField(required=False, initial=dict, widget=forms.Textarea(attrs={"rows": 3}))
    secret_headers = forms.CharField(
        label="Secret headers", required=False, help_text="Comma-separated names to redact in the run history."
    )

    def clean_variables(self) -> dict[str, Any]:
        value = self.cleaned_data.get("variables") or {}
        if not isinstance(value, dict):
            raise ValidationError('Give a JSON object, e.g. {"region": "eu"}.')
        return value

    def options(self) -> dict[str, Any]:
        """Keyword arguments for job_create / job_update."""
        data = self.cleaned_data
        options = {name: data.get(name) for name in self.fields if name not in SCHEDULE_FIELDS.values()}
        options.pop("natural_id")
        options["secret_headers"] = _comma_list(data.get("secret_headers") or "")
        options["name"] = data.get("name") or data["natural_id"]
        options["description"] = data.get("description") or ""
        for text_field in ("success_body_contains", "success_body_regex"):
            options[text_field] = data.get(text_field) or ""
        return options

    @classmethod
    def initial_for(cls, job: Job) -> dict[str, Any]:
        initial = {name: getattr(job, name) for name in cls.base_fields if hasattr(job, name)}
        initial["secret_headers"] = ", ".join(job.secret_headers or [])
        if job.run_at is not None:
            initial["run_at"] = job.run_at.astimezone(ZoneInfo(job.timezone or "UTC")).replace(tzinfo=None)
        return initial


class StepForm(forms.Form):
    name = forms.CharField(max_length=100, initial="main")
    kind = forms.ChoiceField(choices=JobStep.Kind.choices, initial="http")
    method = forms.ChoiceField(choices=[(m, m) for m in HTTP_METHODS], initial="GET")
    url = forms.CharField(
        label="URL", required=False, max_length=2000, widget=forms.TextInput(attrs={"placeholder": "https://"})
    )
    headers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Content-Type: application/json"}),
        help_text="One 'Name: value' per line.",
    )
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    timeout_ms = forms.IntegerField(label="Timeout (ms)", initial=DEFAULT_TIMEOUT_MS, min_value=1)
    recipients = forms.CharField(required=False, help_text="Comma-separated email addresses.")
    subject = forms.CharField(required=False, max_length=300)
    depends_on = forms.CharField(label="After steps", required=False, help_text="Comma-separated step names.")
    run_if = forms.ChoiceField(label="Run when", choices=JobStep.RunIf.choices, initial=RUN_IF[0])
    after_failures = forms.IntegerField(label="Notify after failures", min_value=1, initial=1)
    on_recovery = forms.BooleanField(label="Also on recovery", required=False)

    def clean_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for line in (self.cleaned_data.get("headers") or "").splitlines():
            if not line.strip():
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise ValidationError(f"Write each header as 'Name: value' (got {line.strip()!r}).")
            headers[name.strip()] = value.strip()
        return headers

    def to_step(self) -> dict[str, Any]:
        data = self.cleaned_data
        if data["kind"] == "email":
            config: dict[str, Any] = {
                "recipients": _comma_list(data.get("recipients") or ""),
                "subject": data.get("subject") or "",
                "body": data.get("body") or "",
            }
        else:
            config = {
                "method": data["method"],
                "url": data.get("url") or "",
                "headers": data.get("headers") or {},
                "body": data.get("body") or "",
                "timeout_ms": data["timeout_ms"],
            }
        if data["kind"] != "http":
            config.update(after_failures=data["after_failures"], on_recovery=bool(data.get("on_recovery")))
        return {
            "name": data["name"],
            "kind": data["kind"],
            "run_if": data["run_if"],
            "depends_on": _comma_list(data.get("depends_on") or ""),
            "config": config,
        }

    @staticmethod
    def initial_for(step: JobStep) -> dict[str, Any]:
        config = step.config or {}
        recipients = config.get("recipients") or []
        return {
            "name": step.name,
            "kind": step.kind,
            "run_if": step.run_if,
            "depends_on": ", ".join(step.depends_on or []),
            "method": config.get("method", "GET"),
            "url": config.get("url", ""),
            "headers": "\n".join(f"{k}: {v}" for k, v in (config.get("headers") or {}).items()),
            "body": config.get("body", ""),
            "timeout_ms": config.get("timeout_ms", DEFAULT_TIMEOUT_MS),
            "recipients": ", ".join(recipients) if isinstance(recipients, list) else recipients,
            "subject": config.get("subject", ""),
            "after_failures": config.get("after_failures", 1),
            "on_recovery": config.get("on_recovery", False),
        }


class BaseStepFormSet(BaseFormSet):
    def live_forms(self) -> list[StepForm]:
        """The steps that were not ticked for removal, in the order typed (the service's indexes)."""
        return [form for form in self.forms if not (self.can_delete and self._should_delete_form(form))]

    def steps(self) -> list[dict[str, Any]]:
        return [form.to_step() for form in self.live_forms()]


StepFormSet = formset_factory(StepForm, formset=BaseStepFormSet, extra=0, min_num=1, validate_min=True, can_delete=True)


def step_formset(data: Any = None, job: Job | None = None) -> BaseStepFormSet:
    initial = [StepForm.initial_for(step) for step in job.steps.all()] if job is not None else None
    return StepFormSet(data=data, initial=initial, prefix="steps")


def apply_errors(exc: ValidationError, form: forms.Form, formset: BaseStepFormSet | None = None) -> None:
    """Put a service's field-keyed errors on the matching form fields; the rest on the form itself."""
    messages = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    step_forms = formset.live_forms() if formset is not None else []
    for key, errors in messages.items():
        for message in errors:
            _apply_one(str(key) if key else "", message, form, step_forms)


def _apply_one(key: str, message: str, form: forms.Form, step_forms: list[StepForm]) -> None:
    if key.startswith("schedule."):
        field = SCHEDULE_FIELDS.get(key.split(".", 1)[1])
        form.add_error(field if field in form.fields else None, message)
        return
    match = _STEP_KEY_RE.match(key)
    if match and int(match.group(1)) < len(step_forms):
        step_form = step_forms[int(match.group(1))]
        field = match.group(2)
        step_form.add_error(field if field in STEP_FIELDS else None, message)
        return
    if key.startswith(("steps", "request")):
        form.add_error(None, f"Steps: {message}")
        return
    form.add_error(key if key in form.fields else None, message)


class JobListFilter(django_filters.FilterSet):
    """The jobs list's search box and state filter; `failing` needs history.selectors.jobs_with_last_run."""

    q = django_filters.CharFilter(label="Search", method="filter_q", max_length=200)
    state = django_filters.ChoiceFilter(
        label="Show",
        empty_label="All jobs",
        choices=[("active", "Active"), ("paused", "Paused"), ("failing", "Failing")],
        method="filter_state",
    )

    class Meta:
        model = Job
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Job], name: str, value: str) -> QuerySet[Job]:
        return queryset.filter(Q(name__icontains=value) | Q(natural_id__icontains=value))

    def filter_state(self, queryset: QuerySet[Job], name: str, value: str) -> QuerySet[Job]:
        if value == "paused":
            return queryset.filter(enabled=False)
        if value == "active":
            return queryset.filter(enabled=True)
        # Failing: the newest ended run did not succeed.
        return queryset.filter(last_end_reason__isnull=False).exclude(last_end_reason="success")
