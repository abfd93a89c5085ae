"""A crontab of every kind of line: what translates becomes a manifest the service accepts; the rest is listed."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from jobs.manifest.crontab import crontab_manifest
from jobs.manifest.document import dump
from tests.jobs.manifest.support import plan

pytestmark = pytest.mark.django_db

CRONTAB = r"""# Hourglass crontab import test
SHELL=/bin/bash
MAILTO=""
# Refresh the cache
*/5 * * * * curl -fsS -m 10 https://api.example.com/cache/refresh >/dev/null 2>&1

CRON_TZ=Europe/Berlin
# Nightly report
30 2 * * 1-5 curl -sS -X POST -H "Content-Type: application/json" -d '{"full": true}' https://reports.example.com/run
@daily wget -q -O- --timeout=30 --tries=3 https://backup.example.com/start
@HOURLY curl -fsSL --retry 2 --json '{"ping": 1}' https://ping.example.com/hook
@reboot curl -fsS https://boot.example.com/
0 3 * * * /usr/local/bin/backup.sh --full
15 * * * * curl -fsS https://a.example.com/export | gzip > /tmp/export.gz
61 * * * * curl -fsS https://late.example.com/
0 4 * * * curl -k https://insecure.example.com/
MAILTO=ops@example.com
0 6 * * 0 wget --method=DELETE --header='Authorization: Bearer t0ps3cret' https://api.example.com/tmp
0 7 1 * * curl -fsS https://percent.example.com/?date=$(date +\%F)
"""


def test_it_translates_every_kind_of_line_or_says_why_not(team):
    manifest, skipped = crontab_manifest(CRONTAB)
    jobs = manifest["jobs"]
    assert list(jobs) == [
        "api.example.com-cache-refresh",
        "reports.example.com-run",
        "backup.example.com-start",
        "ping.example.com-hook",
        "api.example.com-tmp",
    ]
    refresh = jobs["api.example.com-cache-refresh"]
    assert refresh == {
        "description": "Refresh the cache",
        "schedule": {"kind": "cron", "expression": "*/5 * * * *", "timezone": "UTC"},
        "request": {"timeoutMs": 10000, "url": "https://api.example.com/cache/refresh"},
    }
    report = jobs["reports.example.com-run"]
    assert report["schedule"]["timezone"] == "Europe/Berlin"
    assert report["request"]["method"] == "POST"
    assert report["request"]["body"] == '{"full": true}'
    assert report["successRule"] == {"statuses": "100-599"}  # no -f: any status is a success, as for curl
    backup = jobs["backup.example.com-start"]
    assert backup["schedule"]["expression"] == "@daily"
    assert backup["request"]["timeoutMs"] == 30000
    assert backup["retry"] == {"limit": 2}
    ping = jobs["ping.example.com-hook"]
    assert ping["schedule"]["expression"] == "@hourly"
    assert ping["successRule"] == {"followRedirects": True}
    assert ping["request"]["headers"]["Content-Type"] == "application/json"
    tmp = jobs["api.example.com-tmp"]
    assert tmp["request"]["method"] == "DELETE"
    assert tmp["request"]["headers"]["Authorization"] == {"secretFrom": "env:API_EXAMPLE_COM_TMP_AUTHORIZATION"}
    assert tmp["notify"] == [{"kind": "email", "config": {"recipients": ["ops@example.com"]}}]
    assert "t0ps3cret" not in dump(manifest)
    reasons = {item.line: item.reason for item in skipped}
    assert sorted(reasons) == [2, 12, 13, 14, 15, 16, 18, 19]
    assert "environment" in reasons[2]
    assert "@reboot" in reasons[12]
    assert "not an HTTP call" in reasons[13]
    assert "pipeline" in reasons[14]
    assert "61" in reasons[15]
    assert "-k" in reasons[16]
    assert "API_EXAMPLE_COM_TMP_AUTHORIZATION" in reasons[18]
    assert "command substitution" in reasons[19]
    # What it wrote, the job service takes.
    result = plan(team, dump(manifest), secrets={"API_EXAMPLE_COM_TMP_AUTHORIZATION": "Bearer t0ps3cret"}.get)
    assert result.summary()["create"] == 5


def test_the_command_writes_the_manifest_and_lists_the_lines_it_left(tmp_path, capsys):
    crontab = tmp_path / "crontab"
    crontab.write_text(CRONTAB)
    call_command("jobs", "import-crontab", str(crontab))
    out, err = capsys.readouterr()
    assert out.startswith("# line 2: not imported:")
    assert "reports.example.com-run:" in out
    assert f"{crontab}: line 12: not imported: @reboot" in err
