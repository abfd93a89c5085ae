"""Seed 000 (Informer): the list envelope and the item, key for key, then our fields beside them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from history.models import Run, RunStep
from tests.api_support import add_step
from tests.conftest import seed_examples

pytestmark = pytest.mark.django_db

SEED = Path(__file__).resolve().parents[4] / "shared" / "seeds" / "000_14be7b571df0e58d.txt"

# The seed's two examples, restated so the test runs where shared/ is absent; checked against it below.
SEED_LIST = {
    "_links": {"self": {"href": "/api/jobs/{id}/history"}},
    "_embedded": {
        "inf:job-history": [
            {
                "id": "history-abc-123",
                "jobId": "550e8400-e29b-41d4-a716-446655440000",
                "ownerId": "team:analytics",
                "success": True,
                "warnings": False,
                "duration": ["2024-02-09T08:00:00Z", "2024-02-09T08:00:15Z"],
                "data": {},
                "progress": [
                    {
                        "task": {"key": "job:progress.invoking_job"},
                        "result": {"key": "job:status.success", "success": True},
                    }
                ],
                "createdAt": "2024-02-09T08:00:00Z",
            }
        ]
    },
    "start": 0,
    "count": 1,
    "total": 150,
}
SEED_DETAIL = {
    "id": "history-abc-123",
    "jobId": "550e8400-e29b-41d4-a716-446655440000",
    "ownerId": "team:analytics",
    "success": True,
    "warnings": False,
    "duration": ["2024-02-09T08:00:00Z", "2024-02-09T08:00:15Z"],
    "data": {},
    "progress": [
        {
            "task": {"key": "job:progress.invoking_job"},
            "result": {"key": "job:status.success", "success": True, "status": "success"},
        },
        {
            "task": {"key": "job:actions.send_email", "opts": {"name": "Send Summary Email"}},
            "result": {"message": "Email sent to 3 recipients", "success": True, "status": "success"},
        },
    ],
    "createdAt": "2024-02-09T08:00:00Z",
}
OUR_FIELDS = [
    "attempt",
    "retryOf",
    "backoffLimit",
    "triggeredBy",
    "user",
    "scheduledFor",
    "latenessMs",
    "status",
    "endReason",
    "httpStatus",
    "responseBody",
    "error",
    "exitCode",
    "warning",
    "variables",
    "request",
]


def _seed_examples() -> list[dict]:
    return seed_examples(SEED)


@pytest.mark.skipif(not SEED.exists(), reason="shared/seeds is not beside the repository")
def test_the_restated_examples_are_the_seeds():
    assert _seed_examples() == [SEED_LIST, SEED_DETAIL]


@pytest.fixture
def seed_like_run(job, viewer) -> Run:
    """A run shaped like the seed's example: 15 s, two successful steps, one of them an email."""
    started = datetime(2024, 2, 9, 8, 0, 0, tzinfo=UTC)
    run = Run.objects.create(
        job=job,
        team=job.team,
        scheduled_for=started,
        started_at=started,
        finished_at=datetime(2024, 2, 9, 8, 0, 15, tzinfo=UTC),
        status=Run.Status.ENDED,
        end_reason=Run.EndReason.SUCCESS,
        http_status=200,
    )
    Run.objects.filter(pk=run.pk).update(created_at=started)
    add_step(run, "main", position=0, key="job:progress.invoking_job", result_key="job:status.success")
    add_step(
        run,
        "send-email",
        position=1,
        kind="email",
        key="job:actions.send_email",
        opts={"name": "Send Summary Email"},
        message="Email sent to 3 recipients",
    )
    run.refresh_from_db()
    return run


def _assert_item_matches(item: dict, seed: dict, *, detail: bool = False) -> None:
    seed_keys = list(seed)
    assert list(item)[: len(seed_keys)] == seed_keys  # the seed's fields first, in its order
    # then ours, beside them; one run's detail adds its place in a job chain
    assert list(item)[len(seed_keys) :] == OUR_FIELDS + (["chain"] if detail else [])
    for key in seed_keys:
        assert isinstance(item[key], type(seed[key])), key
    assert item["duration"] == seed["duration"]
    assert item["createdAt"] == seed["createdAt"]
    assert item["data"] == seed["data"]
    assert item["success"] is seed["success"]
    assert item["warnings"] is seed["warnings"]
    assert item["ownerId"] == "team:acme"
    assert len(item["progress"]) >= len(seed["progress"])
    for ours, theirs in zip(item["progress"], seed["progress"], strict=False):
        assert list(ours) == ["task", "result"]
        for part in ("task", "result"):
            assert set(theirs[part]) <= set(ours[part])
            for key, value in theirs[part].items():
                assert ours[part][key] == value, (part, key)
        assert ours["result"]["status"] in ("success", "error", "warning")


def test_the_list_has_the_seeds_envelope_and_items(as_user, viewer, job, seed_like_run):
    body = as_user(viewer).get(f"/api/jobs/{job.natural_id}/history").json()
    assert list(body)[:5] == list(SEED_LIST)
    assert list(body)[5:] == ["totalIsEstimate"]
    assert body["_links"]["self"]["href"] == f"/api/jobs/{job.natural_id}/history"
    assert list(body["_embedded"]) == ["inf:job-history"]
    assert (body["start"], body["count"], body["total"]) == (0, 1, 1)
    _assert_item_matches(body["_embedded"]["inf:job-history"][0], SEED_LIST["_embedded"]["inf:job-history"][0])


def test_the_detail_matches_the_seed_key_for_key(as_user, viewer, job, seed_like_run):
    item = as_user(viewer).get(f"/api/jobs/{job.pk}/history/{seed_like_run.pk}").json()
    _assert_item_matches(item, SEED_DETAIL, detail=True)
    assert item["chain"] == {"startedBy": [], "started": []}
    assert item["id"] == str(seed_like_run.pk)
    assert item["jobId"] == str(job.pk)
    assert item["progress"][1]["task"] == {"key": "job:actions.send_email", "opts": {"name": "Send Summary Email"}}


@pytest.mark.parametrize(
    ("step_status", "informer_status", "success"),
    [
        (RunStep.Status.DONE, "success", True),
        (RunStep.Status.ERROR, "error", False),
        (RunStep.Status.SKIPPED, "warning", False),
        (RunStep.Status.CANCELED, "warning", False),
    ],
)
def test_progress_status_maps_to_informers_three(as_user, viewer, job, step_status, informer_status, success):
    run = Run.objects.create(job=job, team=job.team, scheduled_for=datetime(2024, 1, 1, tzinfo=UTC))
    add_step(run, "main", status=step_status, error="ConnectionError" if step_status == "error" else None)
    result = as_user(viewer).get(f"/api/jobs/{job.pk}/history/{run.pk}").json()["progress"][0]["result"]
    assert result["status"] == informer_status
    assert result["success"] is success


def test_the_request_snapshot_is_redacted(as_user, viewer, job):
    snapshot = {
        "method": "POST",
        "url": "https://user:pw@example.com/hook?api_key=qwerty-key&page=2",
        "headers": {"Authorization": "Bearer s3cret", "X-Api-Token": "t0ken", "Accept": "application/json"},
    }
    run = Run.objects.create(job=job, team=job.team, scheduled_for=datetime(2024, 1, 1, tzinfo=UTC), request=snapshot)
    body = as_user(viewer).get(f"/api/jobs/{job.pk}/history/{run.pk}").content.decode()
    for secret in ("s3cret", "t0ken", "qwerty-key", ":pw@"):
        assert secret not in body
    request = json.loads(body)["request"]
    assert request["headers"]["Accept"] == "application/json"
    assert "page=2" in request["url"]


def test_our_fields_carry_the_run(as_user, editor, job):
    run = Run.objects.create(
        job=job,
        team=job.team,
        scheduled_for=datetime(2024, 1, 1, tzinfo=UTC),
        triggered_by=Run.Trigger.API,
        triggered_by_user=editor,
        attempt=2,
        backoff_limit=3,
        lateness_ms=120,
        status=Run.Status.ENDED,
        end_reason=Run.EndReason.FAILED,
        http_status=503,
        response_body="unavailable",
        error="HTTP 503",
        exit_code=1,
        variables={"region": "eu"},
    )
    item = as_user(editor).get(f"/api/jobs/{job.pk}/history/{run.pk}").json()
    assert {k: item[k] for k in OUR_FIELDS if k != "request"} == {
        "attempt": 2,
        "retryOf": None,
        "backoffLimit": 3,
        "triggeredBy": "api",
        "user": "erin",
        "scheduledFor": "2024-01-01T00:00:00Z",
        "latenessMs": 120,
        "status": "ended",
        "endReason": "failed",
        "httpStatus": 503,
        "responseBody": "unavailable",
        "error": "HTTP 503",
        "exitCode": 1,
        "warning": None,
        "variables": {"region": "eu"},
    }
    assert item["success"] is False
