"""Job chains in a manifest: `after` names jobs by ID, also ones the same manifest creates (in any order), a loop
across the whole manifest is refused with the loop named and nothing applied, and export writes `after` back."""

from __future__ import annotations

import pytest

from jobs.manifest.apply import manifest_export
from jobs.manifest.document import ManifestError, dump
from jobs.models import Job, JobTrigger
from tests.factories import JobFactory
from tests.jobs.manifest.support import apply, plan

pytestmark = pytest.mark.django_db

CHAIN = """\
version: 1
jobs:
  report:
    schedule: {kind: none}
    after: [{job: import, on: success}, {job: export, on: any}]
    afterAll: true
    afterWithinSeconds: 1800
    request: {url: https://report.example.com/}
  import:
    schedule: {kind: cron, expression: "0 3 * * *"}
    request: {url: https://import.example.com/}
  export:
    schedule: {kind: cron, expression: "0 4 * * *"}
    after: [{job: import}]
    request: {url: https://export.example.com/}
"""


def test_a_manifest_creates_jobs_that_follow_each_other_in_any_order(team, owner):
    result = apply(team, CHAIN, by=owner)
    assert result.summary()["create"] == 3
    report = Job.objects.get(team=team, natural_id="report")
    assert report.after == [{"job": "import", "on": "success"}, {"job": "export", "on": "any"}]
    assert (report.after_all, report.after_within_seconds) == (True, 1800)
    assert Job.objects.get(natural_id="export").after == [{"job": "import", "on": "success"}]
    assert not apply(team, CHAIN, by=owner).changed  # applied again: nothing to do


def test_export_writes_after_back_and_round_trips(team, owner):
    apply(team, CHAIN, by=owner)
    exported = manifest_export(team=team)
    assert exported["jobs"]["report"]["after"] == [{"job": "import", "on": "success"}, {"job": "export", "on": "any"}]
    assert exported["jobs"]["report"]["afterAll"] is True
    assert "after" not in exported["jobs"]["import"]
    assert not apply(team, dump(exported, "yaml"), by=owner).changed


def test_a_loop_across_the_manifest_is_refused_and_nothing_applied(team, owner):
    looped = CHAIN.replace(
        'schedule: {kind: cron, expression: "0 3 * * *"}',
        'schedule: {kind: cron, expression: "0 3 * * *"}\n    after: [{job: report, on: failure}]',
    )
    with pytest.raises(ManifestError) as caught:
        apply(team, looped, by=owner)
    messages = {p.location: p.message for p in caught.value.problems}
    assert messages["jobs.import.after"] == (
        "This would make a loop of jobs starting each other: import → report → import."
    )
    assert not Job.objects.filter(team=team).exists()


def test_an_unknown_job_and_a_pruned_one_are_refused_on_the_entry(team, owner):
    JobFactory(team=team, natural_id="legacy")
    text = CHAIN.replace("{job: import}]", "{job: legacy}]")
    assert plan(team, text).summary()["create"] == 3  # legacy stays unless pruned
    with pytest.raises(ManifestError) as caught:
        plan(team, text, prune=True)
    assert {p.location: p.message for p in caught.value.problems} == {
        "jobs.export.after[0].job": "No job 'legacy' in team 'acme'."
    }


def test_an_update_can_reverse_a_chain_in_one_apply(team, owner):
    apply(team, CHAIN, by=owner)
    # export follows import; reversed, import follows export (valid only once both sides change together).
    reversed_text = CHAIN.replace("    after: [{job: import}]\n", "").replace(
        'schedule: {kind: cron, expression: "0 3 * * *"}',
        'schedule: {kind: cron, expression: "0 3 * * *"}\n    after: [{job: export}]',
    )
    apply(team, reversed_text, by=owner)
    assert Job.objects.get(natural_id="import").after == [{"job": "export", "on": "success"}]
    assert Job.objects.get(natural_id="export").after == []
    assert JobTrigger.objects.filter(job__team=team).count() == 3
