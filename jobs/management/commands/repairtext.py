from __future__ import annotations

from typing import Any

from django.apps import apps

from core.commands import Command as BaseCommand
from jobs.repair import repair_stored_text


class Command(BaseCommand):
    help = (
        "Mend text stored before input was checked: lone UTF-16 surrogates become U+FFFD and NUL characters"
        " are removed, in jobs, steps, runs, run steps, audit entries, teams and keys (SQLite only; PostgreSQL"
        " cannot hold them)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        mended = repair_stored_text(apps)
        total = sum(mended.values())
        details = ", ".join(f"{name} {count}" for name, count in mended.items() if count)
        self.stdout.write(f"Mended {total} row{'s' if total != 1 else ''}" + (f" ({details})." if details else "."))
