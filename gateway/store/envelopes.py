"""SQL access to envelopes and ingest receipts. Payloads and facts are sealed before they get here.

Statements run on the caller's connection, inside the caller's transaction, and take many rows
at once: the HL7 group commit writes a whole batch with one statement per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select

from gateway.store.tables import EnvelopeRow, IngestReceiptRow

_envelopes = EnvelopeRow.__table__  # type: ignore[attr-defined]
_receipts = IngestReceiptRow.__table__  # type: ignore[attr-defined]


def insert_envelopes(*, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(_envelopes), list(rows))


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


def add_receipts(*, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(_receipts), list(rows))


def count_envelopes(*, connection: Connection, org_id: str | None = None) -> int:
    query = select(func.count()).select_from(_envelopes)
    if org_id is not None:
        query = query.where(_envelopes.c.source_org_id == org_id)
    return int(connection.execute(query).scalar_one())
