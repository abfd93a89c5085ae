"""A run that succeeded but is unlike the job's recent successful runs ends `success` with a warning.

Against the real local target, through the engine and its result writer: the duration band, the
response size factor and the JSON field's type; the minimum sample; the hook other code connects to.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from history.models import Run, RunBaseline
from jobs.engine import anomaly
from jobs.engine.anomaly import AnomalyRule, Baseline
from jobs.models import JobStep
from tests.jobs.engine.execute_support import execute, http_config, make_job, make_run

RULE = AnomalyRule(window=30, min_samples=10, duration_k=5.0, size_factor=4.0)


def _baseline(job, *, durations=(), sizes=(), json_field="", json_type="") -> RunBaseline:
    return RunBaseline.objects.create(
        job=job,
        durations_ms=list(durations),
        response_bytes=list(sizes),
        json_field=json_field,
        json_type=json_type,
        updated_at=timezone.now(),
    )


def _point_at(job, url: str) -> None:
    step = JobStep.objects.get(job=job, name="main")
    step.config = {**step.config, "url": url}
    step.save()
    job.save()  # a new updated_at: the engine plans from the new definition


# --- the band itself ---------------------------------------------------------------------------


def test_it_learns_median_plus_minus_k_mad_with_a_floor(settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    durations = [1000, 1100, 900, 1000, 1050, 950, 1000, 1200, 800, 1000]
    band = anomaly.duration_band(durations, 5.0)
    assert (band.median, band.mad) == (1000, 50)
    assert (band.low, band.high) == (750, 1250)
    # Identical durations have no spread: the floor keeps the band from being a point.
    flat = anomaly.duration_band([20] * 10, 5.0)
    assert (flat.low, flat.high) == (0, 120)


def test_an_outlier_warns_an_in_band_run_does_not_and_below_the_minimum_nothing_does(settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    learned = Baseline(durations_ms=[1000, 1100, 900, 1000, 1050, 950, 1000, 1200, 800, 1000])
    [finding] = anomaly.assess(RULE, learned, 2000, None, None)
    assert finding.kind == "duration"
    assert "outside 750 ms–1,250 ms" in finding.message
    assert anomaly.assess(RULE, learned, 1240, None, None) == []
    few = Baseline(durations_ms=learned.durations_ms[:9])
    assert anomaly.assess(RULE, few, 2000, None, None) == []


def test_learning_keeps_the_newest_window():
    rule = AnomalyRule(window=3, min_samples=2, duration_k=5.0, size_factor=4.0)
    learned = Baseline()
    for duration in (1, 2, 3, 4, 5):
        anomaly.learn(rule, learned, duration, duration * 10, None)
    assert (learned.durations_ms, learned.response_bytes) == ([3, 4, 5], [30, 40, 50])


@pytest.mark.parametrize(
    ("field", "path"),
    [("/data/items", ("data", "items")), ("data.items", ("data", "items")), ("/a~1b/~0c", ("a/b", "~c")), ("", ())],
)
def test_a_json_field_is_a_pointer_or_a_dotted_path(field, path):
    assert anomaly.parse_json_field(field) == path


@pytest.mark.parametrize("field", ["a..b", ".a", "/a~2", "a.\x01"])
def test_a_malformed_json_field_is_refused(field):
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies; the write service shows it
        anomaly.parse_json_field(field)


def test_json_types_by_path():
    body = '{"data": {"items": [1, "two", null], "ok": true}}'
    assert anomaly.json_type_at(body, ("data", "items")) == "array"
    assert anomaly.json_type_at(body, ("data", "items", "1")) == "string"
    assert anomaly.json_type_at(body, ("data", "items", "2")) == "null"
    assert anomaly.json_type_at(body, ("data", "items", "3")) == "missing"
    assert anomaly.json_type_at(body, ("data", "ok")) == "boolean"
    assert anomaly.json_type_at("<html>", ("data",)) == "invalid"


# --- through the engine ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_duration_outlier_ends_success_with_a_warning(team, target, settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    job = make_job(team, target.url("/delay/400"), anomaly_duration_k=5.0)
    _baseline(job, durations=[20] * 10)  # ten quick runs: the band is 0–120 ms

    run = execute(make_run(job))

    assert (run.end_reason, run.warnings, run.warning_kind) == ("success", True, "duration")
    assert "outside 0 ms–120 ms" in run.warning
    assert "of the last 10 successful runs" in run.warning
    # The run is learned: the baseline now holds eleven durations, the newest this one.
    baseline = RunBaseline.objects.get(job=job)
    assert len(baseline.durations_ms) == 11
    assert baseline.durations_ms[-1] == run.duration_ms


@pytest.mark.django_db(transaction=True)
def test_an_in_band_run_has_no_warning(team, target, settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    job = make_job(team, target.url("/ok"))
    _baseline(job, durations=[20] * 10, sizes=[12] * 10)

    run = execute(make_run(job))

    assert (run.end_reason, run.warnings, run.warning_kind, run.warning) == ("success", False, "", "")


@pytest.mark.django_db(transaction=True)
def test_below_the_minimum_sample_an_outlier_has_no_warning(team, target, settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    job = make_job(team, target.url("/delay/400"), anomaly_min_samples=10)
    _baseline(job, durations=[20] * 9)

    run = execute(make_run(job))

    assert (run.end_reason, run.warnings) == ("success", False)
    assert len(RunBaseline.objects.get(job=job).durations_ms) == 10  # learned all the same


@pytest.mark.django_db(transaction=True)
def test_the_band_is_learned_from_the_runs_the_writer_wrote(team, target, settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    job = make_job(team, target.url("/ok"), anomaly_min_samples=5)
    quick = [execute(make_run(job)) for _ in range(5)]
    assert not any(run.warnings for run in quick)

    _point_at(job, target.url("/delay/500"))
    slow = execute(make_run(job))

    assert (slow.warnings, slow.warning_kind) == (True, "duration")
    assert RunBaseline.objects.get(job=job).durations_ms[:5] == [run.duration_ms for run in quick]


@pytest.mark.django_db(transaction=True)
def test_a_response_size_beyond_the_factor_warns_and_within_it_does_not(team, target):
    job = make_job(team, target.url("/bytes/1000"), anomaly_size_factor=4.0, anomaly_duration_k=0)
    _baseline(job, sizes=[200] * 10)

    big = execute(make_run(job))
    assert (big.warnings, big.warning_kind) == (True, "size")
    assert "1,000 bytes: 5.0× larger than the median 200 bytes" in big.warning

    _point_at(job, target.url("/bytes/300"))
    near = execute(make_run(job))
    assert (near.warnings, near.warning_kind) == (False, "")


@pytest.mark.django_db(transaction=True)
def test_a_json_field_that_changes_type_warns(team, target):
    # /status/200 answers {"status": 200}; /ok answers {"ok": true}, where "status" is missing.
    job = make_job(team, target.url("/status/200"), anomaly_json_field="/status", anomaly_duration_k=0)
    first = execute(make_run(job))
    same = execute(make_run(job))
    assert (first.warnings, same.warnings) == (False, False)
    assert RunBaseline.objects.get(job=job).json_type == "number"

    _point_at(job, target.url("/ok"))
    changed = execute(make_run(job))

    assert (changed.end_reason, changed.warnings, changed.warning_kind) == ("success", True, "json_type")
    assert changed.warning == "/status is missing; in the previous successful run it was number."


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_is_neither_judged_nor_learned(team, target):
    job = make_job(team, target.url("/status/500"))
    _baseline(job, durations=[20] * 10)
    run = execute(make_run(job))
    assert (run.end_reason, run.warnings) == ("failed", False)
    assert RunBaseline.objects.get(job=job).durations_ms == [20] * 10


@pytest.mark.django_db(transaction=True)
def test_connected_hooks_hear_of_each_warning_after_it_is_written(team, target, settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    job = make_job(team, target.url("/delay/400"))
    _baseline(job, durations=[20] * 10)
    heard: list[tuple[anomaly.RunWarning, bool]] = []

    def hook(warnings):
        # After the commit: the run already reads as warned from the hook's own connection.
        heard.extend((warning, Run.objects.get(pk=warning.run_id).warnings) for warning in warnings)

    anomaly.connect(hook)
    try:
        run = execute(make_run(job))
    finally:
        anomaly.disconnect(hook)

    [(warning, stored)] = heard
    assert (warning.run_id, warning.job_id, warning.team_id, warning.kind) == (
        str(run.pk),
        str(job.pk),
        team.pk,
        "duration",
    )
    assert warning.message == run.warning
    assert stored is True
    assert warning.finished_at.astimezone(UTC) == run.finished_at.astimezone(UTC)
    assert isinstance(warning.finished_at, datetime)


@pytest.mark.django_db(transaction=True)
def test_a_hook_that_raises_does_not_undo_the_write(team, target, settings):
    settings.HOURGLASS_ANOMALY_DURATION_FLOOR_MS = 100
    job = make_job(team, target.url("/delay/400"))
    _baseline(job, durations=[20] * 10)

    def broken(warnings):
        raise RuntimeError("the alert backend is down")

    anomaly.connect(broken)
    try:
        run = execute(make_run(job))
    finally:
        anomaly.disconnect(broken)
    assert (run.status, run.warnings) == ("ended", True)


@pytest.mark.django_db(transaction=True)
def test_a_failed_step_after_a_successful_request_is_a_step_warning(team, target):
    job = make_job(
        team,
        target.url("/ok"),
        steps=[{"name": "report", "config": http_config(target.url("/status/500")), "depends_on": ["main"]}],
    )
    run = execute(make_run(job))
    assert (run.end_reason, run.warnings, run.warning_kind) == ("success", True, "step")
    assert run.warning == "The request succeeded but 'report' failed."
