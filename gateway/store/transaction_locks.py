"""PostgreSQL advisory locks held until the transaction ends, on 64-bit keys taken from hashes.

They make two transactions about the same thing (a new person's identifiers, one
Idempotency-Key) wait for each other, while transactions about different things do not. SQLite
needs none: its writers are serialised by BEGIN IMMEDIATE.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

_LOCK = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k")


def lock_key(digest: bytes) -> int:
    """The lock key of a hash: its first 8 bytes as a signed 64-bit integer."""
    return int.from_bytes(digest[:8], "big", signed=True)


def hold(connection: Connection, keys: Iterable[int]) -> None:
    """On PostgreSQL, wait for and hold these locks until the transaction ends. They are taken
    in sorted order, so two transactions wanting overlapping sets cannot deadlock."""
    if connection.dialect.name != "postgresql":
        return
    ids = sorted(set(keys))
    if ids:
        connection.execute(_LOCK, {"ids": ids})
