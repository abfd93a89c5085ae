"""Every dashboard page and action × role: outsider 404, role too low 403, enough 2xx/3xx, anonymous → login."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from history.models import Run
from jobs.models import Job


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    target: str  # "job", "run" or "" (what the URL names)
    allowed: str  # the lowest persona that may
    denied: str | None  # the persona just below it (None: every member may)
    ok: int

    def url(self, job: Job, run: Run) -> str:
        kwargs: dict[str, Any] = {}
        if self.target == "job":
            kwargs["job_id"] = job.pk
        elif self.target == "run":
            kwargs["run_id"] = run.pk
        url = reverse(self.name, kwargs=kwargs)
        return url + (f"?since={timezone.now().isoformat()}".replace("+", "%2B") if self.name.endswith("new") else "")


CASES = [
    Case("jobs:detail", "get", "job", "viewer", None, 200),
    Case("jobs:edit", "get", "job", "editor", "operator", 200),
    Case("jobs:delete", "get", "job", "editor", "operator", 200),
    Case("jobs:run-now", "post", "job", "operator", "viewer", 302),
    Case("jobs:pause", "post", "job", "editor", "operator", 302),
    Case("jobs:resume", "post", "job", "editor", "operator", 302),
    Case("jobs:delete", "post", "job", "editor", "operator", 302),
    Case("history:job-runs-new", "get", "job", "viewer", None, 200),
    Case("history:runs-delete", "post", "job", "editor", "operator", 200),  # the confirmation step
    Case("history:run-detail", "get", "run", "viewer", None, 200),
    Case("history:run-live", "get", "run", "viewer", None, 200),
    Case("history:run-row", "get", "run", "viewer", None, 200),
    Case("history:run-cancel", "post", "run", "operator", "viewer", 302),
    Case("history:run-rerun", "post", "run", "operator", "viewer", 302),
    Case("history:run-delete", "get", "run", "editor", "operator", 200),
    Case("history:run-delete", "post", "run", "editor", "operator", 302),
]
IDS = [f"{case.method}-{case.name}" for case in CASES]
GUARDED = [pytest.param(case, id=f"{case.method}-{case.name}") for case in CASES if case.denied]


@pytest.fixture
def personas(owner, editor, operator, viewer, outsider) -> dict[str, Any]:
    return {"owner": owner, "editor": editor, "operator": operator, "viewer": viewer, "outsider": outsider}


def _call(client, case: Case, job: Job, run: Run):
    return getattr(client, case.method)(case.url(job, run))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_it_gives_outsiders_404(case, client, personas, job, ended_run):
    client.force_login(personas["outsider"])
    assert _call(client, case, job, ended_run).status_code == 404
    assert Job.objects.filter(pk=job.pk, enabled=True).exists()
    assert Run.objects.filter(pk=ended_run.pk).exists()


@pytest.mark.parametrize("case", GUARDED)
def test_it_gives_a_role_too_low_403(case, client, personas, job, ended_run):
    client.force_login(personas[case.denied])
    assert _call(client, case, job, ended_run).status_code == 403
    assert Job.objects.filter(pk=job.pk, enabled=True).exists()
    assert Run.objects.filter(pk=ended_run.pk).exists()
    assert Run.objects.filter(job=job).count() == 1  # no run started, none deleted


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_it_lets_the_lowest_allowed_role_through(case, client, personas, job, ended_run):
    client.force_login(personas[case.allowed])
    data = {"run": [str(ended_run.pk)]} if case.name == "history:runs-delete" else None
    response = getattr(client, case.method)(case.url(job, ended_run), data)
    assert response.status_code == case.ok, response.content[:500]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_it_sends_anonymous_visitors_to_the_login_page(case, client, job, ended_run):
    response = _call(client, case, job, ended_run)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("name", "allowed", "denied"),
    [("jobs:create", "editor", "operator"), ("jobs:team", "owner", "editor")],
)
def test_it_checks_the_role_in_the_current_team_for_team_pages(name, allowed, denied, client, personas):
    client.force_login(personas[denied])
    assert client.get(reverse(name)).status_code == 403
    client.force_login(personas[allowed])
    assert client.get(reverse(name)).status_code == 200


def test_it_keeps_other_teams_jobs_off_the_outsiders_list(client, outsider, job):
    client.force_login(outsider)
    response = client.get(reverse("jobs:list"))
    assert response.status_code == 200
    assert job.name not in response.content.decode()
