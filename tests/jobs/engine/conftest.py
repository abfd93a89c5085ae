"""Dispatcher and reaper fixtures: their messages recorded as they are sent, on commit."""

from __future__ import annotations

import pytest

from jobs.engine.dispatch import dispatch
from tests.jobs.engine.dispatch_support import Published


@pytest.fixture(autouse=True)
def one_second_lookahead(settings) -> None:
    """The dispatcher tests reason in whole seconds around T0: a look-ahead of 1 s (the default is longer)."""
    settings.HOURGLASS_DISPATCH_LOOKAHEAD_MS = 1000


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
def tick(django_capture_on_commit_callbacks, published):
    """dispatch(now) with its messages recorded as they are sent, on commit."""

    def run(now, **options):
        with django_capture_on_commit_callbacks(execute=True):
            return dispatch(now, publisher=published, **options)

    return run
