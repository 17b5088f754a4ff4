"""SQL access to the audit log: accept into `audit_pending`, integrate into entries, nodes,
checkpoints and the head, and read them back for proofs, queries and export.

Invariants:
- Rows are only ever inserted (and pending rows deleted by the integrator once integrated);
  the head changes by compare-and-swap on its tree size, so two integrators can never both
  append at one size (the entries' and checkpoints' primary keys back this up).
- Nothing here decides what a record says; `audit` builds and checks the bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, text, update

from audit.errors import ProofError
from gateway.store.tables import (
    AuditCheckpointRow,
    AuditCosignatureRow,
    AuditEntryRow,
    AuditHeadRow,
    AuditNodeRow,
    AuditPendingRow,
)

_pending = AuditPendingRow.__table__  # type: ignore[attr-defined]
_entries = AuditEntryRow.__table__  # type: ignore[attr-defined]
_nodes = AuditNodeRow.__table__  # type: ignore[attr-defined]
_checkpoints = AuditCheckpointRow.__table__  # type: ignore[attr-defined]
_head = AuditHeadRow.__table__  # type: ignore[attr-defined]
_cosignatures = AuditCosignatureRow.__table__  # type: ignore[attr-defined]

INTEGRATOR_LOCK = 0x61756469  # "audi": the PostgreSQL advisory lock of the single integrator


_INSERT_PENDING = insert(_pending)  # built once: every accepted record runs it


def add_pending(*, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        connection.execute(_INSERT_PENDING, list(rows))


def backlog(*, connection: Connection) -> tuple[int, Any]:
    """How many records wait for integration, and when the oldest was accepted (None if none)."""
    count, oldest = connection.execute(select(func.count(), func.min(_pending.c.accepted_at))).one()
    return int(count), oldest


def known_record_ids(*, connection: Connection, record_ids: Sequence[str]) -> tuple[set[str], set[str]]:
    """Which of `record_ids` are integrated, and which still pending."""
    integrated = connection.execute(
        select(_entries.c.record_id).where(_entries.c.record_id.in_(bindparam("ids", expanding=True))),
        {"ids": list(record_ids)},
    ).scalars()
    pending = connection.execute(
        select(_pending.c.record_id).where(_pending.c.record_id.in_(bindparam("ids", expanding=True))),
        {"ids": list(record_ids)},
    ).scalars()
    return set(integrated), set(pending)


def take_integrator_lock(connection: Connection) -> bool:
    """PostgreSQL: only one integrator works at a time across replicas (released at commit).
    SQLite: the write transaction (BEGIN IMMEDIATE) already excludes every other writer."""
    if connection.dialect.name != "postgresql":
        return True
    return bool(
        connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": INTEGRATOR_LOCK}).scalar()
    )


def head(*, connection: Connection) -> Any:
    return connection.execute(select(_head).where(_head.c.id == 1)).one()


def pending_batch(*, connection: Connection, limit: int) -> list[Any]:
    return list(connection.execute(select(_pending).order_by(_pending.c.id).limit(limit)).all())


def integrate(
    *,
    connection: Connection,
    old_size: int,
    head_row: dict[str, Any],
    entries: Sequence[dict[str, Any]],
    nodes: Sequence[dict[str, Any]],
    pending_ids: Sequence[int],
    checkpoint: dict[str, Any] | None,
) -> bool:
    """Append a batch; False (nothing written) when another integrator moved the head first."""
    moved = connection.execute(
        update(_head).where(_head.c.id == 1, _head.c.tree_size == old_size).values(**head_row)
    )
    if moved.rowcount != 1:
        return False
    if entries:
        connection.execute(insert(_entries), list(entries))
    if nodes:
        connection.execute(insert(_nodes), list(nodes))
    if pending_ids:
        connection.execute(delete(_pending).where(_pending.c.id.in_(list(pending_ids))))
    if checkpoint is not None:
        connection.execute(insert(_checkpoints), [checkpoint])
    return True


def add_checkpoint(*, connection: Connection, row: dict[str, Any]) -> None:
    connection.execute(insert(_checkpoints), [row])


def latest_checkpoint(*, connection: Connection) -> Any | None:
    return connection.execute(select(_checkpoints).order_by(_checkpoints.c.tree_size.desc()).limit(1)).first()


def checkpoint_at(*, connection: Connection, size: int) -> Any | None:
    return connection.execute(select(_checkpoints).where(_checkpoints.c.tree_size == size)).first()


def all_checkpoints(*, connection: Connection) -> list[Any]:
    return list(connection.execute(select(_checkpoints).order_by(_checkpoints.c.tree_size)).all())


def add_cosignature(*, connection: Connection, row: dict[str, Any]) -> None:
    """A cosignature already stored for that size and witness key is kept, not replaced."""
    exists = connection.execute(
        select(_cosignatures.c.tree_size).where(
            _cosignatures.c.tree_size == row["tree_size"],
            _cosignatures.c.witness == row["witness"],
            _cosignatures.c.key_id == row["key_id"],
        )
    ).first()
    if exists is None:
        connection.execute(insert(_cosignatures), [row])


def cosignature_lines(*, connection: Connection, sizes: Sequence[int] | None = None) -> dict[int, list[str]]:
    """The cosignature lines stored per checkpoint size (of `sizes`, or all), by witness name."""
    statement = select(_cosignatures.c.tree_size, _cosignatures.c.line).order_by(
        _cosignatures.c.tree_size, _cosignatures.c.witness
    )
    if sizes is not None:
        statement = statement.where(_cosignatures.c.tree_size.in_(list(sizes)))
    found: dict[int, list[str]] = {}
    for size, line in connection.execute(statement):
        found.setdefault(int(size), []).append(str(line))
    return found


def latest_cosigned_size(
    *, connection: Connection, witness: str | None = None, key_id: bytes | None = None
) -> int:
    """The largest size cosigned (by this witness key, if given); 0 when none is."""
    statement = select(func.max(_cosignatures.c.tree_size))
    if witness is not None:
        statement = statement.where(_cosignatures.c.witness == witness, _cosignatures.c.key_id == key_id)
    return int(connection.execute(statement).scalar() or 0)


class SqlHashSource:
    """`audit.merkle.HashSource` over the stored leaf hashes and complete-subtree nodes."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def node(self, level: int, index: int) -> bytes:
        if level == 0:
            found = self._connection.execute(
                select(_entries.c.leaf_hash).where(_entries.c.idx == index)
            ).first()
        else:
            found = self._connection.execute(
                select(_nodes.c.hash).where(_nodes.c.level == level, _nodes.c.idx == index)
            ).first()
        if found is None:
            raise ProofError(f"the log holds no subtree at level {level}, index {index}")
        return bytes(found[0])


def entries(
    *,
    connection: Connection,
    person_id: str | None = None,
    org: str | None = None,
    decision: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_index: int = -1,
    limit: int = 100,
) -> list[Any]:
    """Integrated entries by index, filtered on the query columns (the caller re-reads the leaf)."""
    query = select(_entries).where(_entries.c.idx > after_index).order_by(_entries.c.idx).limit(limit)
    if person_id is not None:
        query = query.where(_entries.c.person_id == person_id)
    if org is not None:
        query = query.where(_entries.c.requester_org == org)
    if decision is not None:
        query = query.where(_entries.c.decision == decision)
    if since is not None:
        query = query.where(_entries.c.recorded_at >= since)
    if until is not None:
        query = query.where(_entries.c.recorded_at < until)
    return list(connection.execute(query).all())


def stream_leaves(*, connection: Connection, batch: int = 5000) -> Iterator[tuple[int, bytes, bytes]]:
    """(index, leaf, leaf_hash) in index order, in pages, for export."""
    after = -1
    while True:
        rows = connection.execute(
            select(_entries.c.idx, _entries.c.leaf, _entries.c.leaf_hash)
            .where(_entries.c.idx > after)
            .order_by(_entries.c.idx)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield int(row.idx), bytes(row.leaf), bytes(row.leaf_hash)
        after = rows[-1].idx
