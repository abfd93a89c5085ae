"""Whose runs a dashboard run table shows: one job's (its page) or every job's of a team (the run feed).

The table, its live rows, its export and its deletes take a RunScope, so the job page and /runs/
share one implementation; only the URLs and the team's extra "job" filter differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse

from history.forms import RunFeedFilterForm, RunFilterForm
from history.models import Run
from history.selectors import run_list, run_list_unsearched
from jobs.access import Actor
from jobs.models import Job, Team

# URL names per scope: (job page, run feed); the job's take job_id.
_URLS = {
    "page": ("jobs:detail", "history:runs"),
    "new": ("history:job-runs-new", "history:runs-new"),
    "export": ("history:job-runs-export", "history:runs-export"),
    "delete": ("history:runs-delete", "history:feed-runs-delete"),
    "delete_matching": ("history:job-runs-delete-matching", "history:runs-delete-matching"),
}


@dataclass(frozen=True)
class RunScope:
    team: Team
    job: Job | None = None

    @property
    def is_feed(self) -> bool:
        return self.job is None

    @property
    def form_class(self) -> type[RunFilterForm]:
        return RunFeedFilterForm if self.is_feed else RunFilterForm

    def runs(self, actor: Actor, filters: dict[str, Any] | None = None) -> QuerySet[Run]:
        """The runs in scope that the caller may read, narrowed by RunFilter's filters."""
        if self.job is not None:
            return run_list(actor=actor, job=self.job, filters=filters)
        return run_list(actor=actor, filters=filters).filter(team=self.team)

    def runs_unsearched(self, actor: Actor, filters: dict[str, Any]) -> QuerySet[Run] | None:
        """runs() without the search, where counting can use it (history.selectors.run_list_unsearched)."""
        unsearched = run_list_unsearched(actor=actor, filters=filters) if self.job is None else None
        return unsearched.filter(team=self.team) if unsearched is not None else None

    def url(self, which: str) -> str:
        job_name, feed_name = _URLS[which]
        return reverse(feed_name) if self.job is None else reverse(job_name, kwargs={"job_id": self.job.pk})

    @property
    def page_url(self) -> str:
        return self.url("page")

    @property
    def new_url(self) -> str:
        return self.url("new")

    @property
    def export_url(self) -> str:
        return self.url("export")

    @property
    def delete_url(self) -> str:
        return self.url("delete")

    @property
    def delete_matching_url(self) -> str:
        return self.url("delete_matching")
