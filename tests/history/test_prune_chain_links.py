"""Retention and job-chain links: a pruned run's own links go with it, and a link to a pruned upstream run keeps
its job and outcome without the run (the links carry no constraint, so the plain DELETEs clear them)."""

from __future__ import annotations

import pytest

from history.models import Run, RunLink
from history.retention import prune_all
from tests.factories import JobFactory
from tests.history.test_retention import NOW, runs

pytestmark = pytest.mark.django_db


def test_pruning_clears_the_links_of_the_runs_it_deletes(team):
    upstream = JobFactory(team=team, natural_id="import", keep_runs=1)
    kept_follower = JobFactory(team=team, natural_id="report", keep_runs=100)
    pruned_follower = JobFactory(team=team, natural_id="digest", keep_runs=1)
    old_upstream, new_upstream = runs(upstream, 2)
    report = runs(kept_follower, 1, triggered_by=Run.Trigger.CHAIN)[0]
    old_digest, new_digest = runs(pruned_follower, 2, triggered_by=Run.Trigger.CHAIN)
    RunLink.objects.create(
        run=report, job=kept_follower, upstream=old_upstream, upstream_job=upstream, outcome="success"
    )
    RunLink.objects.create(
        run=old_digest, job=pruned_follower, upstream=old_upstream, upstream_job=upstream, outcome="success"
    )
    RunLink.objects.create(
        run=new_digest, job=pruned_follower, upstream=new_upstream, upstream_job=upstream, outcome="success"
    )

    assert prune_all(NOW) == 2  # the older import run and the older digest run

    assert not Run.objects.filter(pk__in=[old_upstream.pk, old_digest.pk]).exists()
    assert not RunLink.objects.filter(run_id=old_digest.pk).exists()
    link = RunLink.objects.get(run=report)
    assert (link.upstream_id, link.upstream_job_id, link.outcome) == (None, upstream.pk, "success")
    assert RunLink.objects.get(run=new_digest).upstream_id == new_upstream.pk
