"""Times go out in UTC inside <time datetime>, for static/js/app.js to show in the viewer's zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jobs.templatetags.hourglass import when


def test_it_renders_an_instant_as_utc_with_a_utc_tooltip():
    berlin = datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    html = when(berlin)
    assert 'datetime="2026-03-29T01:30:00+00:00"' in html
    assert 'title="2026-03-29 01:30:00 UTC"' in html
    assert ">2026-03-29 01:30:00 UTC</time>" in html


def test_it_renders_a_missing_time_as_a_dash():
    assert "–" in when(None)
    assert "<time" not in when(None)
