from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import Command as BaseCommand
from jobs.models import Team
from jobs.services import team_create


class Command(BaseCommand):
    help = "Create a team."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Short unique identifier, e.g. analytics")
        parser.add_argument("--name", default="", help="Display name (defaults to the slug)")

    def handle(self, *args: Any, slug: str, name: str, **options: Any) -> None:
        if Team.objects.filter(slug=slug).exists():
            raise CommandError(f"team {slug!r} already exists")
        team = team_create(slug=slug, name=name)
        self.stdout.write(f"Created team {team.slug} ({team.name})")
