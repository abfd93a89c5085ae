"""POST /api/jobs/{id}/backfill: a run for every past slot in a range, paced (jobs.backfill)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import problem_responses
from core import docs
from core.api import TeamScopedView
from core.strict import StrictSerializer
from core.times import iso
from jobs.backfill import MAX_RATE, job_backfill
from jobs.roles import JOB_RUN


class BackfillSerializer(StrictSerializer):
    to = serializers.DateTimeField(help_text="The range's end (inclusive), at or before now.")
    ratePerSecond = serializers.FloatField(
        required=False, default=1.0, min_value=0.001, max_value=MAX_RATE, help_text="How many runs are sent a second."
    )

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(help_text="The range's start (inclusive).")
        return fields


class BackfillResultSerializer(serializers.Serializer):
    slots = serializers.IntegerField(help_text="Slots of the schedule in the range.")
    created = serializers.IntegerField(help_text="Runs created (trigger backfill).")
    existing = serializers.ListField(child=serializers.DateTimeField(), help_text="Slots that already had a run.")
    runs = serializers.ListField(child=serializers.UUIDField(), help_text="The new runs' ids, in slot order.")


class JobBackfillView(TeamScopedView):
    required = {"POST": JOB_RUN}

    @extend_schema(
        operation_id="jobs_backfill",
        summary="Create a run for every past slot in [from, to], paced (job:run); at most 1,000 slots",
        tags=["jobs"],
        parameters=[docs.JOB_ID],
        request=BackfillSerializer,
        responses={202: BackfillResultSerializer, **problem_responses(400, 403)},
    )
    def post(self, request: Request, id: str) -> Response:
        job = self.visible_job(request, id)
        serializer = BackfillSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = job_backfill(
            job=job, start=data["from"], end=data["to"], rate_per_second=data["ratePerSecond"], by=request.user
        )
        body = {
            "slots": len(result.slots),
            "created": len(result.created),
            "existing": [iso(slot) for slot in result.existing],
            "runs": [str(run.pk) for run in result.created],
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)
