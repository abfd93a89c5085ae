from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from core.commands import Command as BaseCommand
from jobs.models import Team
from jobs.services import apikey_create


class Command(BaseCommand):
    help = "Create an API key for a team and print it (only the key, on stdout; it is not stored and not shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="Team slug")
        parser.add_argument("--name", required=True, help="What the key is for, e.g. cli")
        parser.add_argument(
            "--scopes",
            required=True,
            help="Comma-separated: job:read, job:run, job:edit, team:admin (aliases cron:read, cron:write)",
        )
        parser.add_argument("--expires-in-days", type=int, default=None, help="Expire the key after N days")
        parser.add_argument("--user", default=None, help="Bound the key by this member's role (default: unbounded)")

    def handle(
        self,
        *args: Any,
        team: str,
        name: str,
        scopes: str,
        expires_in_days: int | None,
        user: str | None,
        **options: Any,
    ) -> None:
        found = Team.objects.filter(slug=team).first()
        if found is None:
            raise CommandError(f"team {team!r} does not exist (create it with: manage.py createteam {team})")
        created_by = None
        if user is not None:
            created_by = get_user_model().objects.filter(username=user).first()
            if created_by is None:
                raise CommandError(f"user {user!r} does not exist")
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be 1 or more")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        scope_list = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        _, raw = apikey_create(team=found, name=name, scopes=scope_list, created_by=created_by, expires_at=expires_at)
        self.stdout.write(raw)
