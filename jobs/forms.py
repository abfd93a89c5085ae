"""Dashboard forms for jobs. They only parse what was typed; the rules live in jobs.write, whose
errors (keyed by canonical paths) `apply_errors` puts back on the fields that caused them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from typing import Any, cast
from zoneinfo import ZoneInfo

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.forms import BaseFormSet, formset_factory
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from config.parsers import StrictJSONDecoder
from jobs import schedules
from jobs.models import Job, JobStep, JobTrigger
from jobs.secrets import shown_headers
from jobs.steps import CONFIG_KEYS, DEFAULT_TIMEOUT_MS, HTTP_METHODS, RUN_IF, sent_config
from jobs.text import CleanJSONField, CleanTextMixin
from jobs.write import schedule_validate

# A step's canonical paths ("steps[0].config.url") → the step form's field ("url").
_STEP_KEY_RE = re.compile(r"^steps\[(\d+)\](?:\.config)?(?:\.(\w+))?$")
_LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class CalendarPicker(forms.Widget):
    """One <select name="calendars"> per team calendar (jobs/job_form.html draws them): "", "exclude:<name>" or
    "only:<name>". The form reads every value sent."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)


class CalendarsField(forms.Field):
    """The calendars a job follows, as the service takes them; which exist is the service's to say."""

    widget = CalendarPicker

    def to_python(self, value: Any) -> list[dict[str, str]]:
        if isinstance(value, str):
            value = [value]
        picked = []
        for item in value or []:
            if isinstance(item, dict):
                picked.append({"calendar": str(item.get("calendar", "")), "mode": str(item.get("mode", ""))})
                continue
            text = str(item).strip()
            if not text:
                continue  # "not used"
            mode, sep, name = text.partition(":")
            if not sep or mode not in ("exclude", "only") or not name:
                raise ValidationError(f"Choose exclude or only for each calendar, not {text!r}.")
            picked.append({"calendar": name, "mode": mode})
        return picked


def picked_calendars(value: Any) -> dict[str, str]:
    """{name: mode} of what a form shows as picked, bound ("exclude:x" strings) or initial (dicts)."""
    if isinstance(value, str):
        value = [value]
    modes: dict[str, str] = {}
    for item in value or []:
        if isinstance(item, dict):
            modes[str(item.get("calendar"))] = str(item.get("mode"))
        else:
            mode, _, name = str(item).partition(":")
            if name:
                modes[name] = mode
    return modes


class AfterWidget(forms.Widget):
    """The `after` editor: one row per job followed (a job picker and the outcome), plus empty rows to add one.

    Plain form controls, no script: the rows post `after-job` and `after-on` lists, read back in pairs.
    """

    BLANK_ROWS = 2

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.jobs: list[str] = []  # the IDs a row may pick (the team's other jobs), set by the view

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[dict[str, str]]:
        jobs = data.getlist(f"{name}-job") if hasattr(data, "getlist") else []
        ons = data.getlist(f"{name}-on") if hasattr(data, "getlist") else []
        ons += [JobTrigger.On.SUCCESS] * (len(jobs) - len(ons))
        return [{"job": job.strip(), "on": on} for job, on in zip(jobs, ons, strict=False) if job.strip()]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False  # no rows picked is an empty list, not a field left out

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        rows = [entry for entry in (value or []) if isinstance(entry, dict)]
        rows += [{"job": "", "on": JobTrigger.On.SUCCESS}] * self.BLANK_ROWS
        known = list(dict.fromkeys([*self.jobs, *(row["job"] for row in rows if row["job"])]))
        field_id = (attrs or {}).get("id", f"id_{name}")

        def row_html(index: int, row: dict[str, str]) -> SafeString:
            options = format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                ((job, " selected" if job == row["job"] else "", job) for job in known),
            )
            outcomes = format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                ((on, " selected" if on == row["on"] else "", label) for on, label in JobTrigger.On.choices),
            )
            return format_html(
                '<li class="after-row"><select name="{}-job" id="{}_{}_job" aria-label="Job to follow">'
                '<option value="">(none)</option>{}</select> <select name="{}-on" id="{}_{}_on"'
                ' aria-label="When it">{}</select></li>',
                name,
                field_id,
                index,
                options,
                name,
                field_id,
                index,
                outcomes,
            )

        items = format_html_join("", "{}", ((row_html(index, row),) for index, row in enumerate(rows)))
        return format_html('<ul class="after-editor" id="{}">{}</ul>', field_id, items)


class AfterField(forms.Field):
    widget = AfterWidget

    def to_python(self, value: Any) -> list[dict[str, str]]:
        return list(value or [])


class ScheduleForm(CleanTextMixin, forms.Form):
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
        strip=False,  # "UTC " is refused, as the API refuses it
        widget=forms.TextInput(attrs={"list": "tz-list", "autocomplete": "off"}),
    )
    interval_seconds = forms.IntegerField(label="Every (seconds)", required=False)
    run_at = forms.DateTimeField(
        label="Run at",
        required=False,
        help_text="The one-off time, or when an interval starts; read in the timezone given.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )

    def fields_for_service(self) -> dict[str, Any]:
        """What parsed, by canonical path (jobs.write.JOB_FIELDS: the form's fields are named alike)."""
        data = self.cleaned_data
        values = {name: data[name] for name in self.fields if name in data and name not in self.errors}
        if values.get("run_at") is not None:
            # The browser sends a wall time; the service reads it on the job's clock, not the server's.
            values["run_at"] = values["run_at"].astimezone(UTC).replace(tzinfo=None)
        for name in ("timezone", "cron_expression"):
            if name in values:
                values[name] = values[name] or ("UTC" if name == "timezone" else "")
        return values

    def schedule(self) -> schedules.Schedule:
        """The validated schedule, for the live preview; ValidationError keyed by canonical path."""
        return schedule_validate(self.fields_for_service())


class JobForm(ScheduleForm):
    natural_id = forms.CharField(
        label="ID", max_length=100, help_text="Letters, digits, '.', '_' and '-'; unique in the team."
    )
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the ID.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    retry_limit = forms.IntegerField(label="Retries", initial=0)
    backoff_strategy = forms.ChoiceField(label="Backoff", choices=Job.Backoff.choices, initial="exponential")
    backoff_base_seconds = forms.IntegerField(label="Backoff base (s)", initial=10)
    overlap_policy = forms.ChoiceField(label="If still running", choices=Job.Overlap.choices, initial="allow")
    misfire_grace_seconds = forms.IntegerField(label="Misfire grace (s)", initial=60)
    jitter_seconds = forms.IntegerField(
        label="Jitter (s)",
        initial=0,
        required=False,
        help_text="Each run starts up to this many seconds after its slot; blank for none.",
    )
    start_at = forms.DateTimeField(
        label="Active from",
        required=False,
        help_text="No run before this time (the job's timezone).",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )
    end_at = forms.DateTimeField(
        label="Active until",
        required=False,
        help_text="After this time the job turns itself off.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )
    max_runs = forms.IntegerField(label="At most runs", required=False, help_text="Then the job turns itself off.")
    pause_after_failures = forms.IntegerField(
        label="Pause after failures", required=False, help_text="Failed runs in a row before the job pauses itself."
    )
    after = AfterField(
        label="Run after",
        required=False,
        help_text="Start this job when a run of another job of the team ends so (after its last retry).",
    )
    after_all = forms.BooleanField(
        label="Wait for all of them", required=False, help_text="Run once all of them have ended so (fan-in)."
    )
    after_within_seconds = forms.IntegerField(
        label="Within (s)", required=False, help_text="With “wait for all”: how close together they must end."
    )
    # Anomaly warnings: blank takes the server's default (shown on the job page as the thresholds in force).
    anomaly_window = forms.IntegerField(
        label="Learn from runs", required=False, help_text="Successful runs the warnings learn from; blank: default."
    )
    anomaly_min_samples = forms.IntegerField(
        label="Warn after runs", required=False, help_text="Runs learned before a warning; blank: default."
    )
    anomaly_duration_k = forms.FloatField(
        label="Duration band (k)",
        required=False,
        help_text="Warn outside median ± k·MAD of their durations; 0 off, blank default.",
    )
    anomaly_size_factor = forms.FloatField(
        label="Size factor",
        required=False,
        help_text="Warn when the response size changes by more than this factor; 0 off, blank default.",
    )
    anomaly_json_field = forms.CharField(
        label="JSON field to watch",
        required=False,
        max_length=200,
        strip=False,
        help_text="Warn when its type changes: a JSON pointer (/data/items) or a dotted path (data.items).",
    )
    success_statuses = forms.CharField(label="Success statuses", initial="200-299", max_length=200)
    success_body_contains = forms.CharField(label="Body must contain", required=False, max_length=500)
    success_body_regex = forms.CharField(label="Body must match (regex)", required=False, max_length=500)
    success_max_latency_ms = forms.IntegerField(label="Max latency (ms)", required=False)
    follow_redirects = forms.BooleanField(label="Follow redirects", required=False)
    keep_runs = forms.IntegerField(label="Keep newest runs", initial=100)
    keep_days = forms.IntegerField(label="Keep days", required=False)
    keep_failed_days = forms.IntegerField(label="Keep failures (days)", required=False)
    variables = CleanJSONField(
        required=False, initial=dict, decoder=StrictJSONDecoder, widget=forms.Textarea(attrs={"rows": 3})
    )
    secret_headers = forms.CharField(
        label="Secret headers",
        required=False,
        help_text="Comma-separated names whose values are kept secret: stored encrypted, shown as [redacted]."
        " Leave [redacted] as it is to keep a stored value.",
    )

    calendars = CalendarsField(
        required=False,
        help_text="Team calendars: skip the slots inside one (exclude), or run only inside it (only).",
    )

    def fields_for_service(self) -> dict[str, Any]:
        values = super().fields_for_service()
        if "calendars" in values and values["calendars"] is None:
            values["calendars"] = []
        if "secret_headers" in values:
            values["secret_headers"] = _comma_list(values["secret_headers"] or "")
        if "variables" in values and values["variables"] is None:
            values["variables"] = {}
        if "jitter_seconds" in values and values["jitter_seconds"] is None:
            values["jitter_seconds"] = 0
        if "after_all" in values:
            values["after_all"] = bool(values["after_all"])
        for name in ("start_at", "end_at"):
            if values.get(name) is not None:
                # A wall time on the job's clock, as run_at.
                values[name] = values[name].astimezone(UTC).replace(tzinfo=None)
        return values

    @classmethod
    def initial_for(cls, job: Job) -> dict[str, Any]:
        initial = {name: getattr(job, name) for name in cls.base_fields if hasattr(job, name)}
        initial["secret_headers"] = ", ".join(job.secret_headers or [])
        for name in ("run_at", "start_at", "end_at"):
            if getattr(job, name) is not None:
                initial[name] = getattr(job, name).astimezone(ZoneInfo(job.timezone or "UTC")).replace(tzinfo=None)
        return initial

    def offer_jobs(self, team_id: int, job: Job | None) -> None:
        """The jobs the `after` rows may pick: the team's others."""
        others = Job.objects.filter(team_id=team_id).order_by("natural_id")
        if job is not None:
            others = others.exclude(pk=job.pk)
        widget = self.fields["after"].widget
        if isinstance(widget, AfterWidget):
            widget.jobs = list(others.values_list("natural_id", flat=True))


class StepForm(CleanTextMixin, forms.Form):
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
    timeout_ms = forms.IntegerField(label="Timeout (ms)", initial=DEFAULT_TIMEOUT_MS)
    recipients = forms.CharField(required=False, help_text="Comma-separated email addresses.")
    subject = forms.CharField(required=False, max_length=500)
    depends_on = forms.CharField(label="After steps", required=False, help_text="Comma-separated step names.")
    run_if = forms.ChoiceField(label="Run when", choices=JobStep.RunIf.choices, initial=RUN_IF[0])
    after_failures = forms.IntegerField(label="Notify after failures", initial=1)
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
        """The step as jobs.write reads it, from what parsed (a field that did not parse is left out)."""
        data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        kind = data.get("kind") or "http"
        typed = {
            "method": data.get("method"),
            "url": data.get("url", ""),
            "headers": data.get("headers") or {},
            "body": data.get("body") or "",
            "timeout_ms": data.get("timeout_ms"),
            "recipients": _comma_list(data.get("recipients") or ""),
            "subject": data.get("subject") or "",
            "after_failures": data.get("after_failures"),
            "on_recovery": bool(data.get("on_recovery")),
        }
        # A webhook always POSTs the run's summary: its method and body fields are hidden, and not sent.
        keys = [key for key in CONFIG_KEYS[kind] if not (kind == "webhook" and key in ("method", "body"))]
        config = {key: typed[key] for key in keys if typed[key] is not None and key not in self.errors}
        return {
            "name": data.get("name") or "",
            "kind": kind,
            "run_if": data.get("run_if") or RUN_IF[0],
            "depends_on": _comma_list(data.get("depends_on") or ""),
            "config": config,
        }

    @staticmethod
    def initial_for(step: JobStep) -> dict[str, Any]:
        config = sent_config(step.kind, step.config or {})
        headers = config.get("headers") or {}
        recipients = config.get("recipients") or []
        return {
            "name": step.name,
            "kind": step.kind,
            "run_if": step.run_if,
            "depends_on": ", ".join(step.depends_on or []),
            "method": config.get("method", "GET"),
            "url": config.get("url", ""),
            # Secret values show as the placeholder, which keeps the stored value when sent back unchanged.
            "headers": "\n".join(f"{k}: {v}" for k, v in shown_headers(headers, step.job.secret_headers or ()).items()),
            "body": config.get("body", ""),
            "timeout_ms": config.get("timeout_ms", DEFAULT_TIMEOUT_MS),
            "recipients": ", ".join(recipients) if isinstance(recipients, list) else recipients,
            "subject": config.get("subject", ""),
            "after_failures": config.get("after_failures", 1),
            "on_recovery": config.get("on_recovery", False),
        }


class BaseStepFormSet(BaseFormSet):
    _should_delete_form: Callable[[forms.Form], bool]  # BaseFormSet's own; not in the stubs

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        # Every step is checked, even one left as it came: an empty URL is marked on its field, and a job
        # without steps is the service's to refuse, not Django's "Please submit at least 1 form.".
        return {**super().get_form_kwargs(index), "empty_permitted": False}

    def live_forms(self) -> list[StepForm]:
        """The steps that were not ticked for removal, in the order typed (the service's indexes)."""
        return [form for form in self.forms if not (self.can_delete and self._should_delete_form(form))]

    def steps(self) -> list[dict[str, Any]]:
        return [form.to_step() for form in self.live_forms()]


StepFormSet = formset_factory(StepForm, formset=BaseStepFormSet, extra=0, min_num=1, can_delete=True)


def step_formset(data: Any = None, job: Job | None = None) -> BaseStepFormSet:
    initial = [StepForm.initial_for(step) for step in job.steps.all()] if job is not None else None
    return cast(BaseStepFormSet, StepFormSet(data=data, initial=initial, prefix="steps"))


def apply_errors(exc: ValidationError, form: forms.Form, formset: BaseStepFormSet | None = None) -> None:
    """Put the service's errors on the fields they name (canonical paths are the form's names); a field
    already marked by its own parse keeps that one message. The rest go on the form itself."""
    messages = (
        cast("dict[str | None, list[str]]", exc.message_dict) if hasattr(exc, "error_dict") else {None: exc.messages}
    )
    step_forms = formset.live_forms() if formset is not None else []
    for key, errors in messages.items():
        target, field = _field_of(str(key) if key else "", form, step_forms)
        if field is not None and field in target.errors:
            continue
        for message in errors:
            text = _prefixed(str(key), message) if field is None and target is form and key else message
            target.add_error(field, text)


def _prefixed(key: str, message: str) -> str:
    return f"Steps: {message}" if key.startswith("steps") else message


def _field_of(key: str, form: forms.Form, step_forms: list[StepForm]) -> tuple[forms.Form, str | None]:
    if key.startswith("after[") and "after" in form.fields:
        return form, "after"  # one editor holds every row
    match = _STEP_KEY_RE.match(key)
    if match and int(match.group(1)) < len(step_forms):
        step_form = step_forms[int(match.group(1))]
        field = match.group(2)
        return step_form, field if field in step_form.fields else None
    return form, key if key in form.fields else None


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
        if value == "paused":  # a one-off whose time has passed is done, not paused (Job.once_done)
            done = Q(schedule_kind=Job.Kind.ONCE, run_at__lte=timezone.now())
            return queryset.filter(enabled=False).exclude(done)
        if value == "active":
            return queryset.filter(enabled=True)
        # Failing: the newest ended run did not succeed.
        failing = queryset.filter(last_end_reason__isnull=False)  # type: ignore[misc]  # from jobs_with_last_run
        return failing.exclude(last_end_reason="success")  # type: ignore[misc]  # the same annotation
