"""A scratch database for a benchmark: a SQLite file, or a fresh PostgreSQL database.

CGW_BENCH_DATABASE_URL names a PostgreSQL server (any database on it); the bench creates its own
database there, owned by that role, and drops it afterwards, so runs never meet old data.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import Engine, make_url

from gateway.bootstrap import open_keyring
from gateway.keyring import Keyring
from gateway.settings import load_settings
from gateway.store.database import bind_keyring, create_db_engine, upgrade


@contextmanager
def scratch_database(folder: Path, name: str) -> Iterator[str]:
    server = os.environ.get("CGW_BENCH_DATABASE_URL")
    if not server:
        yield f"sqlite:///{folder / f'{name}.db'}"
        return
    url = make_url(server)
    database = f"cgw_bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    try:
        yield url.set(database=database).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def scratch_gateway(name: str) -> Iterator[tuple[Engine, Keyring]]:
    """A scratch database migrated and bound to a new keyring, as `db upgrade` leaves one."""
    with tempfile.TemporaryDirectory() as scratch, scratch_database(Path(scratch), name) as database:
        settings = load_settings(database_url=database, keyring=Path(scratch) / "keyring.json")
        engine = create_db_engine(settings)
        try:
            upgrade(engine)
            keyring = open_keyring(settings)
            bind_keyring(engine, keyring.keyring_id)
            yield engine, keyring
        finally:
            engine.dispose()
