"""The base of the API's and the dialects' views that act on one job or team (core.permissions says who may)."""

from __future__ import annotations

from typing import ClassVar

from rest_framework.request import Request
from rest_framework.views import APIView

from jobs.access import actor_from_request
from jobs.models import Job, Team
from jobs.selectors import job_get, team_get


class TeamScopedView(APIView):
    """An API view whose actions act on one job or team: find it among the caller's, then check the action."""

    required: ClassVar[dict[str, str]] = {}
    required_in_some_team: ClassVar[dict[str, str]] = {}

    def visible_job(self, request: Request, ref: str, *, team_id: int | None = None, only: tuple[str, ...] = ()) -> Job:
        """The caller's job `ref` (UUID or natural ID): 404 / 409 (jobs.selectors.job_get), then 403 by role."""
        job = job_get(actor=actor_from_request(request), ref=ref, team_id=team_id, only=only)
        self.check_object_permissions(request, job)
        return job

    def visible_team(self, request: Request, slug: str) -> Team:
        """The caller's team `slug`: 404 if it is not one of them, then 403 by role."""
        team = team_get(actor=actor_from_request(request), slug=slug)
        self.check_object_permissions(request, team)
        return team
