"""A run's place in a job chain: the runs whose outcome started it, and the runs it started (history.RunLink)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.urls import reverse

from history.models import Run, RunLink


def _entry(run_id: Any, job_id: Any, natural_id: str | None, status: str, end_reason: str) -> dict[str, Any]:
    return {
        "runId": str(run_id) if run_id else None,
        "jobId": str(job_id) if job_id else None,
        "naturalId": natural_id,
        "status": status or None,
        "endReason": end_reason or None,
        "href": reverse("api:job-history-detail", args=[job_id, run_id]) if run_id and job_id else None,
    }


def run_chain(run: Run) -> dict[str, list[dict[str, Any]]]:
    """{"startedBy": [...], "started": [...]}, in one query, and no run of a team other than the run's own."""
    started_by, started = [], []
    links = (
        RunLink.objects.filter(Q(run_id=run.pk) | Q(upstream_id=run.pk))
        .select_related("upstream", "upstream_job", "run", "run__job")
        .order_by("pk")
    )
    for link in links:
        if link.run_id == run.pk:
            upstream, job = link.upstream, link.upstream_job
            if upstream is not None and upstream.team_id != run.team_id:
                continue
            started_by.append(
                _entry(
                    link.upstream_id if upstream is not None else None,
                    link.upstream_job_id,
                    job.natural_id if job is not None else None,
                    upstream.status if upstream is not None else "",
                    link.outcome,
                )
            )
        elif link.run is not None and link.run.team_id == run.team_id:
            follower = link.run
            started.append(
                _entry(follower.pk, follower.job_id, follower.job.natural_id, follower.status, follower.end_reason)
            )
    return {"startedBy": started_by, "started": started}
