"""SQL access to envelopes and ingest receipts. Payloads and facts are sealed before they get here.

Statements run on the caller's connection, inside the caller's transaction, and take many rows
at once: the HL7 group commit writes a whole batch with one statement per table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.store import transaction_locks
from gateway.store.tables import EnvelopeRow, IngestReceiptRow

_envelopes = EnvelopeRow.__table__  # type: ignore[attr-defined]
_receipts = IngestReceiptRow.__table__  # type: ignore[attr-defined]


# Built once: the HL7 group commit runs these every batch, and building one cost more than running it.
_INSERT_ENVELOPES = insert(_envelopes)
# executemany with RETURNING: SQLAlchemy sends one multi-row INSERT ("insertmanyvalues") from a
# statement compiled once, where .values(rows) would compile afresh every batch.
_CLAIM = {
    dialect: insert_for(_receipts)
    .on_conflict_do_nothing()
    .returning(_receipts.c.source_org_id, _receipts.c.message_key)
    for dialect, insert_for in (("sqlite", sqlite_insert), ("postgresql", postgresql_insert))
}


def insert_envelopes(*, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        connection.execute(_INSERT_ENVELOPES, list(rows))


def receipts(*, connection: Connection, org_id: str, message_keys: Sequence[str]) -> dict[str, str]:
    """The stored answers for those of `message_keys` already received from this org."""
    if not message_keys:
        return {}
    rows = connection.execute(
        select(_receipts.c.message_key, _receipts.c.response).where(
            _receipts.c.source_org_id == org_id, _receipts.c.message_key.in_(list(message_keys))
        )
    ).all()
    return {key: response for key, response in rows}


def claim_receipts(*, connection: Connection, rows: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """Insert the receipts not seen before, in one statement; return the (org, key) pairs inserted.

    A pair missing from the result was received before: a redelivery.
    """
    if not rows:
        return set()
    statement = _CLAIM[connection.dialect.name]
    return {(org_id, key) for org_id, key in connection.execute(statement, list(rows))}


def add_receipts(*, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(_receipts), list(rows))


def receipt(*, connection: Connection, org_id: str, message_key: str) -> str | None:
    """The stored answer to one earlier request from this org, or None.

    On PostgreSQL it first waits for any other transaction about the same key to end (a lock
    held until this transaction ends). Without it, two requests sent with one Idempotency-Key
    before either committed both found no receipt, both stored, and the second failed on the
    receipt's unique key. SQLite needs none: its writers are serialised by BEGIN IMMEDIATE.
    """
    digest = hashlib.sha256(b"\0".join((b"receipt", org_id.encode(), message_key.encode()))).digest()
    transaction_locks.hold(connection, [transaction_locks.lock_key(digest)])
    return receipts(connection=connection, org_id=org_id, message_keys=[message_key]).get(message_key)


def add_receipt(
    *, connection: Connection, org_id: str, message_key: str, response: str, created_at: datetime
) -> None:
    add_receipts(
        connection=connection,
        rows=[
            {
                "source_org_id": org_id,
                "message_key": message_key,
                "response": response,
                "created_at": created_at,
            }
        ],
    )


_FOR_PERSONS = (  # built once: every flag pull and lookup runs it
    select(_envelopes)
    .where(
        _envelopes.c.person_id.in_(bindparam("people", expanding=True)),
        _envelopes.c.kind.in_(bindparam("kinds", expanding=True)),
    )
    .order_by(_envelopes.c.received_at, _envelopes.c.envelope_id)
)


def for_persons(*, connection: Connection, person_ids: Sequence[str], kinds: Sequence[str]) -> list[Any]:
    """A person's stored envelopes of these kinds (sealed), oldest first."""
    if not person_ids or not kinds:
        return []
    return list(connection.execute(_FOR_PERSONS, {"people": list(person_ids), "kinds": list(kinds)}).all())
