"""Database helpers the engine shares: retrying a busy database, and one-statement row updates."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from django.db import OperationalError, close_old_connections, connections, router
from django.db.models import Field, Model

logger = logging.getLogger(__name__)
T = TypeVar("T")


def with_db_retry(operation: Callable[[], T], attempts: int = 5, delay_s: float = 0.2) -> T:
    """Run a database operation again when the database is busy or its connection dropped.

    Only for operations that are safe to repeat; never wraps an HTTP request.
    """
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except OperationalError:
            if attempt == attempts:
                raise
            logger.warning("database busy, retrying (%d/%d)", attempt, attempts, exc_info=True)
            close_old_connections()
            time.sleep(delay_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def update_rows(model: type[Model], objects: Sequence[Model], fields: list[str]) -> None:
    """UPDATE each object's `fields` by primary key with one executemany.

    Django's bulk_update builds a CASE per field per row; for 100 runs it took 0.19 s on SQLite,
    this 0.003 s. Values go through each field's own conversion, as in save().
    """
    if not objects:
        return
    meta = model._meta
    columns = [cast(Field, meta.get_field(name)) for name in fields]
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column.column)} = %s" for column in columns)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    params = [
        [column.get_db_prep_save(getattr(obj, column.attname), connection) for column in columns]
        + [meta.pk.get_db_prep_value(obj.pk, connection)]
        for obj in objects
    ]
    with bound_cursor(connection) as cursor:
        cursor.executemany(sql, params)


@contextlib.contextmanager
def bound_cursor(connection: Any) -> Iterator[Any]:
    """A cursor for the engine's hot statements: on PostgreSQL, psycopg's own with server-side binding.

    Django's psycopg cursors bind parameters on the client, escaping each value into the SQL text
    in Python; for the engine's executemany of thousands of rows that was most of the writer's CPU.
    Server-side binding sends the values apart (and lets psycopg prepare the statement). Errors are
    still Django's (wrap_database_errors), and the statements run in Django's transaction.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor
