from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.db import transaction

from core.commands import Command as BaseCommand
from jobs.models import Job, Team
from jobs.roles import Role
from jobs.services import member_set
from jobs.write import job_write

DEMO_PASSWORD = "demo"  # noqa: S105 - printed on purpose; demo data only
DEMO_USERS = (("demo-admin", Role.ADMIN), ("demo-editor", Role.EDITOR), ("demo-viewer", Role.VIEWER))


def demo_jobs(base_url: str) -> list[dict[str, Any]]:
    echo = f"{base_url.rstrip('/')}/echo/"
    return [
        {
            "natural_id": "heartbeat",
            "name": "Heartbeat every 10 seconds",
            "schedule": {"kind": "interval", "seconds": 10},
            "steps": [{"name": "ping", "config": {"url": f"{echo}?status=200"}}],
        },
        {
            "natural_id": "minutely-report",
            "name": "Report every minute",
            "schedule": {"kind": "cron", "expression": "* * * * *", "timezone_name": "Europe/Berlin"},
            "steps": [{"name": "report", "config": {"url": f"{echo}?delay_ms=150&bytes=512"}}],
        },
        {
            "natural_id": "flaky-export",
            "name": "Export that fails (retried twice)",
            "schedule": {"kind": "cron", "expression": "* * * * *", "timezone_name": "UTC"},
            "options": {"retry_limit": 2, "backoff_strategy": "constant", "backoff_base_seconds": 5},
            "steps": [{"name": "export", "config": {"url": f"{echo}?status=500"}}],
        },
        {
            "natural_id": "fetch-and-notify",
            "name": "Fetch, then post a summary",
            "schedule": {"kind": "interval", "seconds": 30},
            "steps": [
                {"name": "fetch", "config": {"url": f"{echo}?bytes=64"}},
                {
                    "name": "notify",
                    "depends_on": ["fetch"],
                    "config": {
                        "method": "POST",
                        "url": echo,
                        "headers": {"Content-Type": "application/json", "Authorization": "Bearer demo-token"},
                        "body": '{"run": "{{ run_id }}", "job": "{{ job.natural_id }}"}',
                    },
                },
            ],
        },
    ]


# The demo's schedule keys → jobs.write's canonical paths.
_SCHEDULE_PATHS = {
    "kind": "schedule_kind",
    "expression": "cron_expression",
    "timezone_name": "timezone",
    "seconds": "interval_seconds",
    "at": "run_at",
}


class Command(BaseCommand):
    help = "Create (or refresh) the demo team, users and jobs. Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        default = os.environ.get("HOURGLASS_BASE_URL") or settings.HOURGLASS_BASE_URL
        parser.add_argument("--base-url", default=default, help=f"Where the echo endpoint is (default {default})")

    @transaction.atomic
    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        team, _ = Team.objects.get_or_create(slug="demo", defaults={"name": "Demo team"})
        for username, role in DEMO_USERS:
            membership = member_set(team=team, username=username, role=role, password=DEMO_PASSWORD)
            user = membership.user
            user.is_staff = True
            user.is_superuser = role == Role.ADMIN
            user.save(update_fields=["is_staff", "is_superuser"])
        for spec in demo_jobs(base_url):
            schedule = {_SCHEDULE_PATHS[name]: value for name, value in spec["schedule"].items()}
            fields = {"natural_id": spec["natural_id"], "name": spec["name"], **spec.get("options", {}), **schedule}
            job = Job.objects.filter(team=team, natural_id=spec["natural_id"]).first()
            job_write(team=team, job=job, fields=fields, steps=spec["steps"])
        users = ", ".join(username for username, _ in DEMO_USERS)
        self.stdout.write(
            f"Demo team 'demo' ready with {len(demo_jobs(base_url))} jobs calling {base_url}/echo/.\n"
            f"Users {users}; password: {DEMO_PASSWORD}\n"
            f"Open {base_url}/ and log in as demo-editor (the admin at {base_url}/admin/ as demo-admin).\n"
            "Jobs as code: manage.py jobs plan examples/jobs.yaml --team demo"
        )
