from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import Command as BaseCommand
from jobs.models import Team
from jobs.signing_secrets import SIGNING_GRACE_DEFAULT, signing_secret_reveal, signing_secret_rotate


class Command(BaseCommand):
    help = (
        "Print a team's signing secret (the key of the Hourglass-Signature header); with --rotate, make a new"
        " one first. The old secret keeps signing beside the new one for --grace-hours (24 by default)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="Team slug")
        parser.add_argument("--rotate", action="store_true", help="Replace the secret with a new one")
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=SIGNING_GRACE_DEFAULT.total_seconds() / 3600,
            help="With --rotate: hours the old secret keeps signing (0: it stops at once)",
        )

    def handle(self, *args: Any, team: str, rotate: bool, grace_hours: float, **options: Any) -> None:
        found = Team.objects.filter(slug=team).first()
        if found is None:
            raise CommandError(f"team {team!r} does not exist")
        if not math.isfinite(grace_hours):
            raise CommandError("--grace-hours: give a number of hours from 0 to 168")
        if rotate:
            secrets = signing_secret_rotate(team=found, grace=timedelta(hours=grace_hours))
        else:
            secrets = signing_secret_reveal(team=found)
        # Only the secret on stdout, so `$(manage.py signingsecret acme)` gives it; the rest on stderr.
        self.stdout.write(secrets.current)
        if secrets.previous:
            until = secrets.previous_expires_at.isoformat() if secrets.previous_expires_at else "the next rotation"
            self.stderr.write(f"The previous secret also signs until {until}: {secrets.previous}")
