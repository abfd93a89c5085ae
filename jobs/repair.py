"""Mend text stored before input was checked (jobs.text): lone surrogates become U+FFFD, NUL characters go.

Only SQLite can hold such rows: PostgreSQL refuses NUL and lone surrogates in text and jsonb alike
(the write failed), so there the repair has nothing to do and reads nothing. It runs once as a data
migration (jobs 0004) and again whenever wanted as `manage.py repairtext`.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, models

from jobs.text import repaired

# Every model a user's text reaches; audit entries are append-only for the application, not for a repair.
MODELS = (
    ("jobs", "Team"),
    ("jobs", "ApiKey"),
    ("jobs", "Job"),
    ("jobs", "JobStep"),
    ("jobs", "AuditEntry"),
    ("history", "Run"),
    ("history", "RunStep"),
)
_TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


def _text_columns(model: type[models.Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields if isinstance(field, _TEXT_FIELDS)]


def repair_stored_text(apps: Any, using: str = "default") -> dict[str, int]:
    """Rows mended per model (`app_label.Model`); `apps` is the app registry or a migration's state."""
    if connections[using].vendor != "sqlite":
        return {}
    mended: dict[str, int] = {}
    for app_label, name in MODELS:
        model = apps.get_model(app_label, name)
        columns = _text_columns(model)
        # The base manager: a plain queryset, so audit entries' append-only manager does not refuse the fix.
        rows = model._base_manager.using(using).values_list("pk", *columns).iterator(chunk_size=2000)
        fixes = []
        for pk, *values in rows:
            changed = {}
            for column, value in zip(columns, values, strict=True):
                fixed = repaired(value)
                if fixed != value:
                    changed[column] = fixed
            if changed:
                fixes.append((pk, changed))
        for pk, changed in fixes:
            model._base_manager.using(using).filter(pk=pk).update(**changed)
        mended[f"{app_label}.{name}"] = len(fixes)
    return mended
