"""RunWisp's "List in-app notifications" (runwisp-openapi.json `listNotifications`): `GET /api/notifications`.

RunWisp's `Run` has no field for a run that succeeded with a warning (its schema refuses other
properties), but its notifications carry a `severity` of `info | warn | error`. Here every run
in the caller's teams that ended `success` with a warning is one notification: kind `run.warning`,
severity `warn`, its task the job's natural ID, its body the warning's message. Newest first;
`before` continues after an id (RunWisp's cursor: items with a smaller id).

An id is a ULID of the run's end: 48 bits of milliseconds, then 10 bits of the microseconds
within it and the first 70 bits of the run's id, so ids sort as the runs ended (and then by run
id) and a cursor names a place in (finished_at, id) order exactly. Nothing is coalesced (`count`
is 1) and there is no read state (`read_at` is never set): the feed is the runs themselves.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import problem_responses
from core.docs import query_param
from core.params import query_int
from core.times import iso
from history.api.serializers import STEP_WARNING
from history.dialects.runwisp import RunWispView
from history.models import Run
from history.selectors import run_visible
from jobs.access import actor_from_request
from jobs.roles import JOB_READ

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
KIND, SEVERITY = "run.warning", "warn"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ulid_of(finished_at: datetime, run_id: uuid.UUID) -> str:
    moment = finished_at - _EPOCH
    micros = moment // timedelta(microseconds=1)
    value = (micros // 1000) << 80 | (micros % 1000) << 70 | run_id.int >> 58
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def cursor_of(ulid: str) -> tuple[datetime, uuid.UUID] | None:
    """(finished_at, the smallest run id with that id's first 70 bits) of an id, or None for an id past every
    run's (beyond year 9999); ValueError if it is not an id."""
    if not _ULID_RE.match(ulid):
        raise ValueError(ulid)
    value = 0
    for char in ulid.upper():
        value = value << 5 | _CROCKFORD.index(char)
    millis, micros, prefix = value >> 80, (value >> 70) & 1023, value & ((1 << 70) - 1)
    if micros > 999:  # no run's: it sorts after the whole millisecond, before the next one's ids
        millis, micros, prefix = millis + 1, 0, 0
    try:
        at = _EPOCH + timedelta(milliseconds=millis, microseconds=micros)
    except OverflowError:
        return None
    return at, uuid.UUID(int=prefix << 58)


def _fnv1a(text: str) -> str:
    value = 0xCBF29CE484222325
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def notification(row: Mapping[str, Any]) -> dict[str, Any]:
    ended = iso(row["finished_at"])
    task = row["job__natural_id"]
    return {
        "id": ulid_of(row["finished_at"], row["id"]),
        "fingerprint": _fnv1a(f"{KIND}\x00{task}\x00{row['warning_kind'] or 'step'}"),
        "kind": KIND,
        "severity": SEVERITY,
        "task_name": task,
        "run_id": str(row["id"]),
        "title": f"{task}: succeeded with a warning",
        "body": row["warning"] or STEP_WARNING,
        "count": 1,
        "occurrences": [ended],
        "created_at": ended,
        "last_occurred_at": ended,
    }


class NotificationSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="A ULID of the run's end: ids sort as the runs ended")
    fingerprint = serializers.CharField(help_text="FNV-1a of the kind, the task and the warning's kind")
    kind = serializers.ChoiceField(choices=[KIND])
    severity = serializers.ChoiceField(choices=[SEVERITY])
    task_name = serializers.CharField(help_text="The job's natural ID")
    run_id = serializers.UUIDField()
    title = serializers.CharField()
    body = serializers.CharField(help_text="The warning's message")
    count = serializers.IntegerField(help_text="Always 1: nothing is coalesced")
    occurrences = serializers.ListField(child=serializers.DateTimeField())
    created_at = serializers.DateTimeField(help_text="When the run ended")
    last_occurred_at = serializers.DateTimeField()


class NotificationsListSerializer(serializers.Serializer):
    items = NotificationSerializer(many=True, help_text="Newest first (id-DESC order)")
    next_cursor = serializers.CharField(help_text="Pass as `before` for the next page; empty when exhausted")


class NotificationsView(RunWispView):
    """Runs that succeeded with a warning, as RunWisp notifications of severity `warn`."""

    required_in_some_team = {"GET": JOB_READ}

    @extend_schema(
        operation_id="runwisp_notifications",
        summary="RunWisp: list in-app notifications (runs that succeeded with a warning)",
        tags=["runwisp"],
        parameters=[
            query_param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}, "Max items"),
            query_param("before", {"type": "string", "pattern": _ULID_RE.pattern}, "Only items with a smaller id"),
        ],
        responses={200: NotificationsListSerializer, **problem_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        actor = actor_from_request(request)
        limit = query_int(request.query_params, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT, blank=False)
        runs = run_visible(actor=actor).filter(
            status=Run.Status.ENDED, end_reason=Run.EndReason.SUCCESS, warnings=True, finished_at__isnull=False
        )
        before = request.query_params.get("before")
        if before is not None:
            try:
                place = cursor_of(before)
            except ValueError:
                raise ValidationError({"query.before": "Not a notification id."}) from None
            if place is not None:
                at, run_id = place
                runs = runs.filter(Q(finished_at__lt=at) | Q(finished_at=at, id__lt=run_id))
        rows = list(
            runs.order_by("-finished_at", "-id").values(
                "id", "finished_at", "warning_kind", "warning", "job__natural_id"
            )[: limit + 1]
        )
        items = [notification(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Response({"items": items, "next_cursor": items[-1]["id"] if more else ""})
