"""What someone holding the database itself can do, past every gateway guard: for the tamper
tests (reference/audit-log.md T1-T9, T21)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine


@contextmanager
def as_database_owner(database_url: str) -> Iterator[Connection]:
    """A transaction on a connection of our own, not the gateway's: on SQLite no authorizer (the
    file's owner), on PostgreSQL a superuser in `session_replication_role = replica`, which
    switches off row and event triggers alike. Triggers still fire on SQLite: drop them first."""
    if database_url.startswith("postgresql"):
        from tests.conftest import as_postgres_superuser

        database_url = as_postgres_superuser(database_url)
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            yield connection
    finally:
        engine.dispose()
