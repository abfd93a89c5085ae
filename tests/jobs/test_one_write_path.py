"""One bad value per field of a job, its request, its steps, their settings and its success rule, sent through
the API (POST /api/jobs with a key) and the dashboard form (POST /jobs/new/ as an editor): the same verdict,
refused with the error on that field, nothing saved. And no field reaches one path without the other."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from jobs.api import serializers as api
from jobs.api.inputs import API_PATHS
from jobs.forms import JobForm, StepForm
from jobs.models import Job, JobStep
from jobs.services import apikey_create
from jobs.steps import CONFIG_FIELDS, CONFIG_KEYS, STEP_FIELDS
from jobs.write import FIELDS
from tests.jobs.dashboard.forms_support import job_form

pytestmark = pytest.mark.django_db

CREATE = reverse("jobs:create")
LONG = "x" * 10_001
MAIL = {"name": "mail", "kind": "email", "run_if": "on_failure", "config": {"recipients": ["ops@example.com"]}}
HOOK = {"name": "hook", "kind": "webhook", "run_if": "on_failure", "config": {"url": "https://example.com/hook"}}


@dataclass(frozen=True)
class Case:
    path: str  # canonical (jobs.write): "success_statuses", "steps[0].config.url"
    api: Any  # the bad value as the API takes it
    form: Any  # as the form's field is typed; None where a form cannot express it (a checkbox)
    extra: dict[str, Any] = field(default_factory=dict)  # canonical fields the case needs
    notify: dict[str, Any] | None = None  # a second step (email or webhook) the path points into

    def __str__(self) -> str:
        return self.path


CASES = [
    Case("natural_id", "has space", "has space"),
    Case("name", "n" * 201, "n" * 201),
    Case("description", LONG, LONG),
    Case("enabled", "maybe", None),
    Case("schedule_kind", "weekly", "weekly"),
    Case("cron_expression", "61 * * * *", "61 * * * *"),
    Case("timezone", "Mars/Olympus", "Mars/Olympus"),
    Case("interval_seconds", 0, "0", extra={"schedule_kind": "interval"}),
    Case("run_at", "2020-01-01T10:00:00Z", "2020-01-01T10:00", extra={"schedule_kind": "once"}),
    Case("retry_limit", 1000, "1000"),
    Case("backoff_strategy", "sideways", "sideways"),
    Case("backoff_base_seconds", -1, "-1"),
    Case("overlap_policy", "queue", "queue"),
    Case("misfire_grace_seconds", -1, "-1"),
    Case("jitter_seconds", 86_401, "86401"),
    Case("start_at", "soon", "soon"),
    Case("end_at", "later", "later"),
    Case("max_runs", 0, "0"),
    Case("pause_after_failures", 1001, "1001"),
    # The form builds `after` from its rows (a job picker each): it cannot send something that is not a list.
    Case("after", "import", None),
    Case("after_all", "maybe", None),
    Case("after_within_seconds", 0, "0"),
    Case("anomaly_window", 2, "2"),
    Case("anomaly_min_samples", 40, "40"),  # more than the default window (30)
    Case("anomaly_duration_k", -1, "-1"),
    Case("anomaly_size_factor", 0.5, "0.5"),
    Case("anomaly_json_field", "data..items", "data..items"),
    Case("success_statuses", "abc", "abc"),
    Case("success_body_contains", "c" * 501, "c" * 501),
    Case("success_body_regex", "([", "(["),
    Case("success_max_latency_ms", 0, "0"),
    Case("follow_redirects", "maybe", None),
    Case("keep_runs", 0, "0"),
    Case("keep_days", 0, "0"),
    Case("keep_failed_days", 0, "0"),
    Case("variables", [1], "[1]"),
    Case("secret_headers", ["bad name"], "bad name"),
    Case("calendars", [{"calendar": "ghost", "mode": "exclude"}], "exclude:ghost"),
    Case("steps[0].name", "has space", "has space"),
    Case("steps[0].kind", "ftp", "ftp"),
    Case("steps[0].run_if", "sometimes", "sometimes"),
    Case("steps[0].depends_on", ["ghost"], "ghost"),
    Case("steps[0].config.method", "BREW", "BREW"),
    Case("steps[0].config.url", "ftp://example.com/", "ftp://example.com/"),
    Case("steps[0].config.headers", {"Bad Name": "v"}, "Bad Name: v"),
    Case("steps[0].config.body", "{{ nope }}", "{{ nope }}"),
    Case("steps[0].config.timeout_ms", 0, "0"),
    Case("steps[1].config.recipients", ["nope"], "nope", notify=MAIL),
    Case("steps[1].config.subject", "Run {{ nope }}", "Run {{ nope }}", notify=MAIL),
    Case("steps[1].config.body", "Body {{ nope }}", "Body {{ nope }}", notify=MAIL),
    Case("steps[1].config.after_failures", 0, "0", notify=MAIL),
    Case("steps[1].config.on_recovery", "maybe", None, notify=MAIL),
    Case("steps[1].config.url", "https://example.com/{{ nope }}", "https://example.com/{{ nope }}", notify=HOOK),
]
# The one-request shortcut: the API's `request` is the form's first step.
REQUEST_CASES = [case for case in CASES if case.path.startswith("steps[0].config.") and case.form is not None]
BASE_STEP = {"name": "main", "kind": "http", "config": {"url": "https://example.com/sync"}}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _api_location(path: str, *, via_request: bool = False) -> str:
    if not path.startswith("steps["):
        return API_PATHS[path]
    head, _, rest = path.partition("].")
    camel = ".".join(_camel(part) for part in rest.split("."))
    if via_request:
        return "request." + camel.removeprefix("config.")
    return f"{head}].{camel}"


def _put(payload: dict[str, Any], location: str, value: Any) -> None:
    """Set `value` at an API location such as successRule.statuses or steps[1].config.url."""
    parts = location.replace("]", "").replace("[", ".").split(".")
    target: Any = payload
    for part in parts[:-1]:
        key: Any = int(part) if part.isdigit() else part
        if isinstance(target, dict):
            target = target.setdefault(key, {})
        else:
            target = target[key]
    target[parts[-1]] = value


def _api_payload(case: Case, *, via_request: bool = False) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "naturalId": "table",
        "schedule": {"kind": "cron", "expression": "*/5 * * * *", "timezone": "Europe/Berlin"},
    }
    if via_request:
        payload["request"] = {"url": "https://example.com/sync"}
    else:
        payload["steps"] = [copy.deepcopy(BASE_STEP)] + ([_api_step(case.notify)] if case.notify else [])
    extra = {"schedule_kind": "kind"}
    for path, value in case.extra.items():
        payload["schedule"][extra[path]] = value
    if case.extra.get("schedule_kind") == "interval":
        payload["schedule"]["seconds"] = 3600
    if case.extra.get("schedule_kind") == "once":
        payload["schedule"]["at"] = "2099-01-01T10:00:00Z"
    _put(payload, _api_location(case.path, via_request=via_request), case.api)
    return payload


def _api_step(step: dict[str, Any]) -> dict[str, Any]:
    shown = {_camel(key): value for key, value in step.items() if key != "config"}
    return {**shown, "config": {_camel(key): value for key, value in step["config"].items()}}


def _form_step(step: dict[str, Any]) -> dict[str, Any]:
    config = step["config"]
    typed = {key: value for key, value in step.items() if key != "config"}
    typed.update({key: ", ".join(v) if isinstance(v, list) else v for key, v in config.items()})
    return typed


def _form_data(case: Case) -> dict[str, Any]:
    steps = [_form_step(BASE_STEP)] + ([_form_step(case.notify)] if case.notify else [])
    data = job_form(steps, natural_id="table")
    for path, value in case.extra.items():
        data[path] = value
    if case.extra.get("schedule_kind") == "interval":
        data["interval_seconds"] = "3600"
    if case.extra.get("schedule_kind") == "once":
        data["run_at"] = "2099-01-01T10:00"
    if case.path.startswith("steps["):
        index, _, rest = case.path.removeprefix("steps[").partition("].")
        data[f"steps-{index}-{rest.removeprefix('config.')}"] = case.form
    else:
        data[case.path] = case.form
    return data


@pytest.fixture
def key_client(team, owner) -> APIClient:
    _, raw = apikey_create(team=team, name="table", scopes=["job:read", "job:edit"], created_by=owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _api_refuses(client: APIClient, payload: dict[str, Any], location: str) -> None:
    response = client.post("/api/jobs", payload, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    locations = [error["location"] for error in response.json()["errors"]]
    assert f"body.{location}" in locations, locations


def _form_refuses(client: Any, data: dict[str, Any], path: str) -> None:
    response = client.post(CREATE, data)
    assert response.status_code == 400, response.content.decode()[:2000]
    form, formset = response.context["form"], response.context["formset"]
    if path.startswith("steps["):
        index, _, rest = path.removeprefix("steps[").partition("].")
        errors = formset.forms[int(index)].errors
        assert rest.removeprefix("config.") in errors, (dict(errors), dict(form.errors))
    else:
        assert path in form.errors, (dict(form.errors), [dict(f.errors) for f in formset.forms])


def _nothing_saved() -> None:
    assert not Job.objects.exists()
    assert not JobStep.objects.exists()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_both_paths_refuse_the_same_bad_value_on_its_field(key_client, client, editor, case):
    _api_refuses(key_client, _api_payload(case), _api_location(case.path))
    _nothing_saved()
    if case.form is None:
        # A checkbox, or the rows of the `after` editor.
        assert FIELDS.get(case.path) is None or case.path in ("enabled", "follow_redirects", "after_all", "after")
        return
    client.force_login(editor)
    _form_refuses(client, _form_data(case), case.path)
    _nothing_saved()


@pytest.mark.parametrize("case", REQUEST_CASES, ids=str)
def test_the_request_shortcut_refuses_them_on_its_own_names(key_client, case):
    _api_refuses(key_client, _api_payload(case, via_request=True), _api_location(case.path, via_request=True))
    _nothing_saved()


def test_the_valid_base_is_accepted_by_both(key_client, client, editor):
    ok = Case("name", "Table", "Table")
    assert key_client.post("/api/jobs", _api_payload(ok), format="json").status_code == 201
    Job.objects.all().delete()
    client.force_login(editor)
    assert client.post(CREATE, _form_data(ok)).status_code == 302


def test_the_table_covers_every_field_of_the_job_its_steps_and_their_settings():
    covered = {case.path for case in CASES}
    assert set(FIELDS) <= covered
    assert {f"steps[0].{name}" for name in STEP_FIELDS if name != "config"} <= covered
    settings = {case.path.rsplit(".", 1)[1] for case in CASES if ".config." in case.path}
    assert set(CONFIG_FIELDS) <= settings


def _writable(serializer: Any, prefix: str = "") -> set[str]:
    """The writable field paths of a serializer, into its nested groups (schedule.kind, retry.limit…)."""
    paths = set()
    for name, child in serializer.fields.items():
        if child.read_only:
            continue
        if isinstance(child, api.serializers.Serializer) and child.source == "*":
            paths |= _writable(child, f"{prefix}{name}.")
        else:
            paths.add(f"{prefix}{name}")
    return paths


def test_no_field_reaches_one_path_without_the_other():
    """The write table, the API's names for it and the form's fields are the same set of fields."""
    # The API: every writable field is a field of the table (or how steps, the team and notifications come).
    api_fields = _writable(api.JobSerializer())
    assert api_fields - {"team", "steps", "notify", "request"} == set(API_PATHS.values())
    assert set(API_PATHS) == set(FIELDS)
    # The form: its fields are the table's, by the same names.
    assert set(JobForm.base_fields) == set(FIELDS)
    # Steps: the API's step fields and settings, the form's step fields and the service's step table.
    step_api = {name for name in api.StepSerializer().fields}
    assert step_api == {_camel(name) for name in STEP_FIELDS}
    config_api = set(api.StepConfigSerializer().fields)
    assert config_api == {_camel(name) for name in CONFIG_FIELDS}
    request_api = set(api.RequestSerializer().fields)
    assert request_api == {_camel(name) for name in CONFIG_KEYS["http"]}
    assert set(StepForm.base_fields) == (set(STEP_FIELDS) - {"config"}) | set(CONFIG_FIELDS)
