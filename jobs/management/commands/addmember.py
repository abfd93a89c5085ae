from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from core.commands import Command as BaseCommand
from jobs.models import Team
from jobs.roles import Role
from jobs.services import member_set
from jobs.text import check_clean


class Command(BaseCommand):
    help = (
        "Add a user to a team with a role, creating the user if missing (password from HOURGLASS_PASSWORD). "
        "An existing user's password is never changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="Team slug")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, team: str, username: str, role: str, email: str, **options: Any) -> None:
        found = Team.objects.filter(slug=team).first()
        if found is None:
            raise CommandError(f"team {team!r} does not exist (create it with: manage.py createteam {team})")
        password = os.environ.get("HOURGLASS_PASSWORD") or None
        check_clean(password, "HOURGLASS_PASSWORD")
        if password is not None and get_user_model().objects.filter(username=username).exists():
            # Adding someone to a team must not lock them out of the teams they are already in.
            self.stderr.write(f"{username} already exists: their password is left unchanged.")
            password = None
        membership = member_set(team=found, username=username, role=role, email=email, password=password)
        self.stdout.write(f"{membership.user.username} is {membership.role} in {found.slug}")
