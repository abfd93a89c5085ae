"""manage.py jobs plan|apply|export|import-crontab|schema: the manifest on the machine Hourglass runs on."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import Command as BaseCommand
from jobs.manifest.apply import manifest_apply, manifest_export
from jobs.manifest.crontab import crontab_manifest
from jobs.manifest.document import ManifestError, dump, parse
from jobs.manifest.plan import manifest_plan
from jobs.manifest.report import CHANGES, plan_json, plan_text
from jobs.manifest.schema import manifest_schema
from jobs.models import Team


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: {exc}") from exc


class Command(BaseCommand):
    help = (
        "Jobs as code. plan FILE: what the manifest would change in --team (exit 0: nothing, 2: changes);"
        " apply FILE: make it so, all or nothing; export: the team's jobs as a manifest; import-crontab FILE: a"
        " crontab as a manifest to review; schema: the manifest's JSON Schema. secretFrom: env:NAME reads this"
        " process's environment."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        for name in ("plan", "apply"):
            sub = commands.add_parser(name, help=f"{name} a manifest (YAML or JSON; - for stdin)")
            sub.add_argument("file")
            sub.add_argument("--team", required=True, help="Team slug")
            sub.add_argument("--prune", action="store_true", help="Also delete the team's jobs the manifest leaves out")
            sub.add_argument("--format", choices=("table", "json"), default="table")
        export = commands.add_parser("export", help="the team's jobs as a manifest, on stdout")
        export.add_argument("--team", required=True, help="Team slug")
        export.add_argument("--format", choices=("yaml", "json"), default="yaml")
        crontab = commands.add_parser("import-crontab", help="a crontab file as a manifest, on stdout")
        crontab.add_argument("file")
        crontab.add_argument("--format", choices=("yaml", "json"), default="yaml")
        commands.add_parser("schema", help="the manifest's JSON Schema")

    def _team(self, slug: str) -> Team:
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            raise CommandError(f"team {slug!r} does not exist")
        return team

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "schema":
            self.stdout.write(json.dumps(manifest_schema(), indent=2))
        elif action == "export":
            self.stdout.write(dump(manifest_export(team=self._team(options["team"])), options["format"]), ending="")
        elif action == "import-crontab":
            manifest, skipped = crontab_manifest(_read(options["file"]))
            lines = [
                f"line {s.line}: {'note' if s.imported else 'not imported'}: {s.reason}: {s.text}" for s in skipped
            ]
            for line in lines:
                self.stderr.write(f"{options['file']}: {line}")
            self.stdout.write(dump(manifest, options["format"], header="\n".join(lines)), ending="")
        else:
            self._plan_or_apply(action, **options)

    def _plan_or_apply(self, action: str, *, file: str, team: str, prune: bool, format: str, **options: Any) -> None:
        found = self._team(team)
        try:
            document = parse(_read(file))
            run = manifest_apply if action == "apply" else manifest_plan
            plan = run(team=found, document=document, prune=prune, resolve=os.environ.get)
        except ManifestError as exc:
            for problem in exc.problems:
                where = f"{file}:{problem.line}: " if problem.line else f"{file}: "
                self.stderr.write(f"{where}{problem.location}: {problem.message}")
            raise CommandError(f"{len(exc.problems)} problem(s) in the manifest; nothing was changed") from None
        self.stdout.write(plan_json(plan) if format == "json" else plan_text(plan), ending="")
        if action == "plan" and plan.changed:
            sys.exit(CHANGES)
