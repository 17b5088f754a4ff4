"""Schema migrations on SQLite and PostgreSQL: upgrade from empty, agreement with the models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

import consent_ledger.sql.tables  # noqa: F401  (registers the ledger table on SQLModel.metadata)
import gateway.store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from gateway.settings import load_settings
from gateway.store.database import (
    SchemaOutdated,
    check_schema_current,
    create_db_engine,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(load_settings(database_url=database_url))
    yield engine
    engine.dispose()


def test_empty_database_upgrades_to_head(engine: Engine) -> None:
    assert current_revision(engine) is None
    with pytest.raises(SchemaOutdated, match="empty database"):
        check_schema_current(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    check_schema_current(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"organizations", "agreements", "api_clients", "personnel", "gateway_meta"} <= tables


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_migrations_create_exactly_what_the_models_declare(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(engine: Engine) -> None:
    upgrade(engine)
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    with pytest.raises(SchemaOutdated):
        check_schema_current(engine)
    upgrade(engine)
    check_schema_current(engine)


def test_sqlite_runs_in_wal_with_full_sync_and_foreign_keys(tmp_path: object) -> None:
    engine = create_db_engine(load_settings(database_url=f"sqlite:///{tmp_path}/g.db"))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA recursive_triggers")).scalar() == 1
            assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 4000
    finally:
        engine.dispose()


def test_migration_0011_removes_plain_resources_from_receipts_and_keeps_other_receipts(
    engine: Engine, database_url: str
) -> None:
    upgrade(engine, "0010_person_keys_person_index")
    legacy = json.dumps(
        {
            "resource": {"resourceType": "Patient", "name": [{"family": "Plaintextcanary"}]},
            "location": "Patient/p-1/_history/1",
        }
    )
    bundle = json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    rows = [("key:one", legacy), ("key:two", bundle), ("MSG-3", "AA")]
    with engine.begin() as connection:
        for key, response in rows:
            connection.execute(
                text(
                    "INSERT INTO ingest_receipts (source_org_id, message_key, response, created_at)"
                    " VALUES ('ghh', :key, :response, CURRENT_TIMESTAMP)"
                ),
                {"key": key, "response": response},
            )
    upgrade(engine)
    with engine.connect() as connection:
        stored = dict(connection.execute(text("SELECT message_key, response FROM ingest_receipts")).all())
    assert json.loads(stored["key:one"]) == {"location": "Patient/p-1/_history/1"}
    assert stored["key:two"] == bundle
    assert stored["MSG-3"] == "AA"
    if database_url.startswith("sqlite"):
        engine.dispose()  # the last connection checkpoints the WAL into the file
        files = Path(database_url.removeprefix("sqlite:///")).parent.glob("*.db*")
        assert not any(b"Plaintextcanary" in path.read_bytes() for path in files)
