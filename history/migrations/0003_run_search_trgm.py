"""Trigram indexes for the history search (`q`), on PostgreSQL.

`q` is a case-insensitive substring match on the run name, the error and the response body,
which Django writes on PostgreSQL as `UPPER(<column>::text) LIKE UPPER(%s)`. Each index is on
that very expression, so the planner can answer the unchanged query from it: the results are
the ones a sequential scan gives. Built CONCURRENTLY, so writes to the run table go on while a
large history is indexed. SQLite has no such index and keeps scanning.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

# (index name, the column as the search expression writes it)
SEARCH_INDEXES = (
    ("run_name_trgm", "run_name"),
    ("run_error_trgm", "error"),
    ("run_body_trgm", "response_body"),
)


def create_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("history", "Run")._meta.db_table)
    for name, column in SEARCH_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
            f"USING gin ((UPPER({schema_editor.quote_name(column)}::text)) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in SEARCH_INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("history", "0002_run_cancel_idx")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
