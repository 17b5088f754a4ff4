"""The barrier beside the append-only triggers: what the gateway's own connections may not do.

The triggers refuse UPDATE and DELETE on the append-only tables, but anyone on a connection can
drop a trigger, alter a table or turn `recursive_triggers` off first (reference/audit-log.md
1.7, T21). So every SQLite connection the gateway opens carries an authorizer that refuses, at
statement preparation:
- UPDATE or DELETE on the tables the triggers protect (the same list: a test compares them);
- DROP, ALTER or CREATE TRIGGER on those tables, and DROP TRIGGER of their triggers;
- changing the pragmas the guarantees rest on (synchronous, journal mode, foreign keys,
  recursive triggers, schema trust and writability).

Migrations run on a connection marked as migrating, which is thrown away afterwards so that no
statement prepared under that mark stays cached. On PostgreSQL the same DDL is refused by event
triggers (migration 0007) outside a migration, which sets `gateway.migrating` for its
transaction. Neither stops the file's owner or a superuser: that is what the Merkle tree, the
checkpoints and the witnesses are for.
"""

from __future__ import annotations

import sqlite3
from typing import Any

APPEND_ONLY = frozenset(  # neither UPDATE nor DELETE
    {
        "consent_versions",
        "disclosures",
        "privacy_reviews",
        "audit_entries",
        "audit_nodes",
        "audit_checkpoints",
        "audit_cosignatures",
    }
)
NO_UPDATE = APPEND_ONLY | {"audit_pending"}  # the integrator deletes pending rows it integrated
NO_DELETE = APPEND_ONLY | {"audit_head"}  # the integrator compare-and-swaps the head
GUARDED_TABLES = NO_UPDATE | NO_DELETE
LOCKED_PRAGMAS = frozenset(
    {"synchronous", "journal_mode", "foreign_keys", "recursive_triggers", "trusted_schema", "writable_schema"}
)
MIGRATING = "cgw_migrating"  # key in the pool record's info of a connection running migrations

_TABLE_IN_ARG2 = {  # actions whose second argument is the table
    sqlite3.SQLITE_DROP_TRIGGER,
    sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_DROP_INDEX,
    sqlite3.SQLITE_ALTER_TABLE,
}


def install_sqlite_authorizer(dbapi_connection: sqlite3.Connection, record_info: dict[str, Any]) -> None:
    """Guard a new connection; `record_info` is its pool record's info (where MIGRATING is set)."""

    def authorize(
        action: int, arg1: str | None, arg2: str | None, _db: str | None, _source: str | None
    ) -> int:
        if record_info.get(MIGRATING):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY if _refused(action, arg1, arg2) else sqlite3.SQLITE_OK

    dbapi_connection.set_authorizer(authorize)


def _refused(action: int, arg1: str | None, arg2: str | None) -> bool:
    if action == sqlite3.SQLITE_UPDATE:
        return arg1 in NO_UPDATE
    if action == sqlite3.SQLITE_DELETE:
        return arg1 in NO_DELETE
    if action == sqlite3.SQLITE_DROP_TABLE:
        return arg1 in GUARDED_TABLES
    if action in _TABLE_IN_ARG2:
        return arg2 in GUARDED_TABLES
    if action == sqlite3.SQLITE_PRAGMA:
        return arg2 is not None and (arg1 or "").lower() in LOCKED_PRAGMAS
    return False
