"""The barrier beside the append-only triggers (reference/audit-log.md T21): through the
gateway's own connections no UPDATE or DELETE reaches the append-only tables, and no DDL
removes their triggers — SQLite's authorizer, PostgreSQL's event triggers; migrations pass."""

from __future__ import annotations

import importlib.util

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gateway.keyring import load_keyring
from gateway.services import audit_log
from gateway.settings import load_settings
from gateway.store.database import MIGRATIONS, create_db_engine, downgrade, upgrade
from gateway.store.guard import GUARDED_TABLES, NO_DELETE, NO_UPDATE
from tests.builders.audit import push_record
from tests.conftest import Installation, as_postgres_superuser, migrate


@pytest.fixture
def guarded(installation: Installation) -> Installation:
    """Migrated as `db upgrade` should be run on PostgreSQL: by a superuser, the only role that
    may install event triggers (as the gateway's own role, 0007 leaves them out with a warning)."""
    if installation.database_url.startswith("postgresql"):
        installation = Installation(installation.root, as_postgres_superuser(installation.database_url))
    return migrate(installation)


COMMON = [
    "DROP TABLE audit_entries",
    "DROP TABLE consent_versions",
    "ALTER TABLE audit_checkpoints RENAME TO audit_checkpoints_old",
    "ALTER TABLE disclosures ADD COLUMN note TEXT",
]
SQLITE_ONLY = [
    "DROP TRIGGER audit_entries_no_update",
    "CREATE TRIGGER sneaky AFTER INSERT ON audit_entries BEGIN SELECT 1; END",
    "PRAGMA recursive_triggers = OFF",
    "PRAGMA synchronous = OFF",
    "PRAGMA writable_schema = ON",
]
POSTGRESQL_ONLY = [
    "DROP TRIGGER audit_entries_no_change ON audit_entries",
    "ALTER TABLE audit_entries DISABLE TRIGGER USER",
    "ALTER TABLE audit_pending DISABLE TRIGGER audit_pending_no_change",
    "CREATE TRIGGER sneaky AFTER INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION gateway_append_only()",
    "TRUNCATE audit_nodes",
]


def _seed_audit_log(installation: Installation) -> None:
    """Three records in the tree (entries, a node, a checkpoint) and one still pending."""
    settings = load_settings(database_url=installation.database_url, keyring=installation.keyring)
    engine = create_db_engine(settings)
    try:
        log = audit_log(settings, load_keyring(installation.keyring), engine)
        log.accept_now([push_record(n) for n in range(3)])
        log.checkpoint()
        log.accept_now([push_record(3)])
    finally:
        engine.dispose()


def _triggers(installation: Installation) -> set[str]:
    if installation.database_url.startswith("sqlite"):
        rows = installation.query("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    else:
        rows = installation.query("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
    return {str(row[0]) for row in rows}


def test_the_guarded_tables_are_exactly_those_with_append_only_triggers(guarded: Installation) -> None:
    spec = importlib.util.spec_from_file_location("ddl_guard", MIGRATIONS / "versions" / "0007_ddl_guard.py")
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert set(migration.GUARDED) == GUARDED_TABLES  # the PostgreSQL event triggers guard the same
    triggers = _triggers(guarded)
    if guarded.database_url.startswith("sqlite"):
        assert {t.removesuffix("_no_update") for t in triggers if t.endswith("_no_update")} == NO_UPDATE
        assert {t.removesuffix("_no_delete") for t in triggers if t.endswith("_no_delete")} == NO_DELETE
    else:
        assert {t.removesuffix("_no_change") for t in triggers if t.endswith("_no_change")} == GUARDED_TABLES


def test_the_gateway_connections_cannot_change_or_unguard_the_append_only_tables(
    guarded: Installation,
) -> None:
    sqlite = guarded.database_url.startswith("sqlite")
    statements = COMMON + (SQLITE_ONLY if sqlite else POSTGRESQL_ONLY)
    _seed_audit_log(guarded)  # PostgreSQL's row triggers only fire on rows
    statements += [
        f"UPDATE {table} SET {column} = {column}"
        for table, column in (
            ("audit_entries", "kind"),
            ("audit_nodes", "hash"),
            ("audit_checkpoints", "note"),
            ("audit_pending", "leaf"),
        )
    ]
    statements += [
        f"DELETE FROM {table}"
        for table in ("audit_entries", "audit_nodes", "audit_checkpoints", "audit_head")
    ]
    before = _triggers(guarded)
    engine = create_db_engine(load_settings(database_url=guarded.database_url))
    try:
        for statement in statements:
            with (
                pytest.raises(SQLAlchemyError, match=r"not authorized|append-only"),
                engine.begin() as connection,
            ):
                connection.execute(text(statement))
        with engine.connect() as connection:  # reading a pragma stays allowed
            assert connection.execute(text("SELECT 1")).scalar() == 1
            if sqlite:
                assert connection.execute(text("PRAGMA recursive_triggers")).scalar() == 1
    finally:
        engine.dispose()
    assert _triggers(guarded) == before
    assert guarded.query("SELECT count(*) FROM audit_head")[0][0] == 1
    assert guarded.query("SELECT count(*) FROM audit_entries")[0][0] == 3
    assert guarded.query("SELECT count(*) FROM audit_pending")[0][0] == 1


def test_migrations_still_change_the_schema_and_the_guard_is_back_afterwards(guarded: Installation) -> None:
    engine = create_db_engine(load_settings(database_url=guarded.database_url))
    try:
        downgrade(engine, "0005_audit")  # drops audit_cosignatures (and, on PostgreSQL, the DDL guard)
        assert "audit_cosignatures_no_update" not in _triggers(guarded)
        upgrade(engine)
        assert {"audit_cosignatures_no_update", "audit_cosignatures_no_change"} & _triggers(guarded)
        with (
            pytest.raises(SQLAlchemyError, match=r"not authorized|append-only"),
            engine.begin() as connection,
        ):
            connection.execute(text("DROP TABLE audit_cosignatures"))
    finally:
        engine.dispose()
