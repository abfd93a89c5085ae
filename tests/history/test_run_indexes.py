"""The partial indexes on runs cover what their queries ask for."""

from __future__ import annotations

from history.models import UNSUCCESSFUL_REASONS, Run


def test_the_unsuccessful_index_holds_every_end_reason_but_success():
    # A reason left out would be found by walking the team index past every success, and its
    # searched count (history.selectors.run_count) would walk that way too.
    assert set(UNSUCCESSFUL_REASONS) == set(Run.EndReason.values) - {Run.EndReason.SUCCESS}
    index = next(index for index in Run._meta.indexes if index.name == "run_team_unsuccessful_idx")
    assert dict(index.condition.children)["end_reason__in"] == UNSUCCESSFUL_REASONS
