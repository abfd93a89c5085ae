from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import Command as BaseCommand
from history.retention import BATCH_SIZE, prune_all
from jobs.models import Job, Team

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Delete old runs by each job's retention (keep_runs, keep_days, keep_failed_days)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--job", metavar="NATURAL_ID", help="Only jobs with this natural ID")
        parser.add_argument("--team", metavar="SLUG", help="Only this team's jobs")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Runs per DELETE (default 1000)")

    def handle(
        self, *args: Any, job: str | None, team: str | None, dry_run: bool, batch_size: int, **options: Any
    ) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        jobs = Job.objects.all()
        if team is not None:
            if not Team.objects.filter(slug=team).exists():
                raise CommandError(f"no team {team!r}")
            jobs = jobs.filter(team__slug=team)
        if job is not None:
            jobs = jobs.filter(natural_id=job)
            if not jobs.exists():
                raise CommandError(f"no job {job!r}" + (f" in team {team!r}" if team else ""))
        count = prune_all(progress=self._progress, jobs=jobs, dry_run=dry_run, batch_size=batch_size)
        self.stderr.write("")
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {count} run{'s' if count != 1 else ''}.")

    def _progress(self, done: int, total: int, deleted: int) -> None:
        filled = BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stderr.write(f"\r[{bar}] {done}/{total} jobs, {deleted} runs", ending="")
        self.stderr.flush()
