"""The manifest over the API, for CI pipelines: plan (job:read), apply (job:edit), export (job:read) and the JSON
Schema. The manifest travels as text (YAML or JSON), so its errors name the file's lines; the values of its
`secretFrom: env:NAME` references come in `secrets`, read from the client's environment, never the server's."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import problem_responses
from core.api import TeamScopedView
from core.strict import StrictSerializer
from jobs.access import actor_from_request
from jobs.manifest.apply import manifest_apply, manifest_export
from jobs.manifest.document import MAX_TEXT, ManifestError, dump, parse
from jobs.manifest.plan import manifest_plan
from jobs.manifest.report import plan_text
from jobs.manifest.schema import manifest_schema
from jobs.roles import JOB_EDIT, JOB_READ

TAGS = ["manifest"]
TEAM = OpenApiParameter("team", str, OpenApiParameter.PATH, description="Team slug")
# Not `format`: DRF reads that one as the renderer to answer with.
AS = OpenApiParameter("as", str, OpenApiParameter.QUERY, enum=["yaml", "json"], description="The text's syntax (yaml)")


class ManifestInputSerializer(StrictSerializer):
    manifest = serializers.CharField(
        max_length=MAX_TEXT,
        trim_whitespace=False,
        help_text="The manifest's text, YAML or JSON (docs/manifest.schema.json): {version: 1, jobs: {<id>: <job>}}.",
    )
    secrets = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=8192),
        required=False,
        help_text="Values of the manifest's `secretFrom: env:NAME` references, by NAME, from the client's environment.",
    )
    prune = serializers.BooleanField(
        required=False, default=False, help_text="Also delete the team's jobs the manifest leaves out."
    )


class ChangeSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="The manifest path, e.g. schedule.expression")
    old = serializers.JSONField(allow_null=True, help_text="null for a create; secret values read [redacted]")
    new = serializers.JSONField(allow_null=True)


class FireTimeSerializer(serializers.Serializer):
    local = serializers.CharField(help_text="In the job's zone, with its offset")
    utc = serializers.CharField()
    dst = serializers.CharField(allow_null=True, help_text="Why this slot is on a DST transition, or null")


class SlotsSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()


class JobPlanSerializer(serializers.Serializer):
    naturalId = serializers.CharField()
    action = serializers.ChoiceField(choices=["create", "update", "delete"])
    changes = ChangeSerializer(many=True)
    timezone = serializers.CharField(required=False)
    nextFireTimes = FireTimeSerializer(many=True, required=False, help_text="For a new schedule: the next 5")
    slots7d = SlotsSerializer(required=False, help_text="Slots the change adds and removes over the next 7 days")


class SummarySerializer(serializers.Serializer):
    create = serializers.IntegerField()  # type: ignore[assignment]  # a field, not BaseSerializer.create
    update = serializers.IntegerField()  # type: ignore[assignment]  # a field, not BaseSerializer.update
    delete = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class PlanSerializer(serializers.Serializer):
    team = serializers.CharField()
    changed = serializers.BooleanField(help_text="Whether anything would change (or, for apply, did)")
    summary = SummarySerializer()
    jobs = JobPlanSerializer(many=True, help_text="The jobs that change; unchanged ones are only counted")
    text = serializers.CharField(help_text="The plan as a table, as `manage.py jobs plan` prints it")


class ExportSerializer(serializers.Serializer):
    team = serializers.CharField()
    format = serializers.ChoiceField(choices=["yaml", "json"])
    text = serializers.CharField(help_text="The manifest as a file")
    manifest = serializers.JSONField(help_text="The same, as data")


class ManifestInvalid(exceptions.ValidationError):
    """400 with each problem at body.manifest.<path>, and its line in the file (config.problems)."""

    def __init__(self, error: ManifestError) -> None:
        detail: dict[str, list[str]] = {}
        self.lines: dict[str, int] = {}
        for problem in error.problems:
            key = "manifest" if problem.location == "$" else f"manifest.{problem.location}"
            detail.setdefault(key, []).append(problem.message)
            if problem.line:
                self.lines[f"body.{key}"] = problem.line
        super().__init__(detail)


def _run(view: TeamScopedView, request: Request, team: str, permission: str) -> Response:
    actor = actor_from_request(request)
    found = view.visible_team(request, team)
    given = ManifestInputSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    data = given.validated_data
    secrets = data.get("secrets") or {}
    try:
        document = parse(data["manifest"])
        if permission == JOB_EDIT:
            plan = manifest_apply(
                team=found, document=document, prune=data["prune"], resolve=secrets.get, by=actor.user
            )
        else:
            may_edit = actor.can(found.pk, JOB_EDIT)
            plan = manifest_plan(
                team=found, document=document, prune=data["prune"], resolve=secrets.get, compare_secrets=may_edit
            )
    except ManifestError as exc:
        raise ManifestInvalid(exc) from exc
    return Response({**plan.as_dict(), "text": plan_text(plan)})


_BODY: dict[str, Any] = {"request": ManifestInputSerializer, "tags": TAGS, "parameters": [TEAM]}


class ManifestPlanView(TeamScopedView):
    required = {"POST": JOB_READ}

    @extend_schema(
        operation_id="manifest_plan",
        summary="What a manifest would change in the team: creates, updates field by field, deletes with prune;"
        " fire times and slots for new schedules (job:read)",
        responses={200: PlanSerializer, **problem_responses(400, 403)},
        **_BODY,
    )
    def post(self, request: Request, team: str) -> Response:
        return _run(self, request, team, JOB_READ)


class ManifestApplyView(TeamScopedView):
    required = {"POST": JOB_EDIT}

    @extend_schema(
        operation_id="manifest_apply",
        summary="Make the team's jobs what the manifest says, all or nothing; audited as manifest.apply (job:edit)",
        responses={200: PlanSerializer, **problem_responses(400, 403)},
        **_BODY,
    )
    def post(self, request: Request, team: str) -> Response:
        return _run(self, request, team, JOB_EDIT)


class ManifestExportView(TeamScopedView):
    required = {"GET": JOB_READ}

    @extend_schema(
        operation_id="manifest_export",
        summary="The team's jobs as a manifest; secret header values as {secretFrom: stored} (job:read)",
        tags=TAGS,
        parameters=[TEAM, AS],
        responses={200: ExportSerializer, **problem_responses(400, 403)},
    )
    def get(self, request: Request, team: str) -> Response:
        found = self.visible_team(request, team)
        unknown = sorted(set(request.query_params) - {"as"})
        if unknown:
            raise exceptions.ValidationError({f"query.{name}": "Unknown parameter." for name in unknown})
        fmt = request.query_params.get("as", "yaml")
        if fmt not in ("yaml", "json"):
            raise exceptions.ValidationError({"query.as": "Use yaml or json."})
        manifest = manifest_export(team=found)
        return Response({"team": found.slug, "format": fmt, "text": dump(manifest, fmt), "manifest": manifest})


class ManifestSchemaView(TeamScopedView):
    required_in_some_team = {"GET": JOB_READ}

    @extend_schema(
        operation_id="manifest_schema",
        summary="The manifest's JSON Schema (2020-12), for editors and CI (job:read in any team)",
        tags=TAGS,
        responses={200: OpenApiTypes.OBJECT, **problem_responses(403)},
    )
    def get(self, request: Request) -> Response:
        return Response(manifest_schema())
