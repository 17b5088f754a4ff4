"""The person index in SQL: resolve a subject's blind keys to a person, link, merge, flag duplicates.

Resolution (DESIGN.md 4), in order:
1. an identifier or logical-id key already known → that person (merges followed);
   keys pointing at two different people → the first, plus a possible-duplicate task;
2. the exact demographic key (fgbs, or fgb without sex) held by exactly one person → link;
3. otherwise a new person; any demographic candidates become possible-duplicate tasks.
A subject with nothing to match on but an unknown logical id does not resolve.

One query reads every key of the subject (with merges joined in), so resolving costs one
round trip plus the inserts of what is new. Statements run on the caller's connection, inside
the caller's transaction.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, TextClause, bindparam, insert, select, text, update
from sqlmodel import col

from gateway.person_keys import SubjectKeys
from gateway.store import transaction_locks
from gateway.store.tables import PersonDuplicateRow, PersonKeyRow, PersonRow

_keys = PersonKeyRow.__table__  # type: ignore[attr-defined]
_persons = PersonRow.__table__  # type: ignore[attr-defined]
_duplicates = PersonDuplicateRow.__table__  # type: ignore[attr-defined]


MAX_PARTIAL_CANDIDATES = 5  # beyond this many people, a partial key is too common to flag


class SubjectUnresolved(Exception):
    """The record names its subject only by a reference the index does not know."""


@dataclass(frozen=True)
class Resolution:
    person_id: str
    created: bool
    matched_by: str  # identifier | logical_id | demographics | new


@dataclass
class _Found:
    """Who holds each of the subject's keys: (kind, hash) → canonical person ids, in row order."""

    holders: dict[tuple[str, str], list[str]]
    raw: set[tuple[str, str, str]]  # (kind, hash, person_id) rows as stored

    def people(self, keys: list[tuple[str, str]]) -> list[str]:
        out: list[str] = []
        for key in keys:
            for person_id in self.holders.get(key, []):
                if person_id not in out:
                    out.append(person_id)
        return out


class BatchResolver:
    """Resolve many subjects in one transaction: one lookup query, then inserts at `flush`.

    Later subjects see the people and keys earlier ones created (an in-memory overlay), so two
    messages about the same new person in one group commit link to one person.
    """

    def __init__(self, connection: Connection, subjects: list[SubjectKeys]) -> None:
        self._connection = connection
        keys = list(dict.fromkeys(k for subject in subjects for k in subject.all()))
        _lock_keys(connection, keys)
        self._found = _lookup(connection, keys)
        self._persons: list[dict[str, object]] = []
        self._keys: list[dict[str, object]] = []
        self._duplicates: list[tuple[str, str, str]] = []

    def resolve(self, keys: SubjectKeys, *, defines_subject: bool = False) -> Resolution:
        """Raises: SubjectUnresolved."""
        found = self._found
        linked = found.people(keys.exact())
        if linked:
            for other in linked[1:]:
                self._duplicates.append((linked[0], other, "IDENTIFIER_CONFLICT"))
            self._add_keys(linked[0], keys)
            return Resolution(
                linked[0], created=False, matched_by="identifier" if keys.identifiers else "logical_id"
            )
        if not keys.identifiers and not keys.demographics and not defines_subject:
            raise SubjectUnresolved()
        if keys.exact_demographics:
            candidates = found.people([(keys.exact_kind, keys.exact_demographics)])
            if len(candidates) == 1:
                self._add_keys(candidates[0], keys)
                return Resolution(candidates[0], created=False, matched_by="demographics")
        person_id = str(uuid.uuid4())
        self._persons.append({"person_id": person_id, "merged_into": None, "created_at": _now()})
        related = found.people([("fgb", keys.demographics)] if keys.demographics else [])
        reason = "DEMOGRAPHIC_AMBIGUOUS"
        if not related:
            related = found.people(
                [(kind, k) for kind, k in zip(("fb", "gb"), keys.partial, strict=True) if k]
            )
            reason = "PARTIAL_DEMOGRAPHICS"
            if len(related) > MAX_PARTIAL_CANDIDATES:
                related = []  # a common given name on a common birth date says nothing about duplicates
        self._duplicates += [(person_id, other, reason) for other in related]
        self._add_keys(person_id, keys)
        return Resolution(person_id, created=True, matched_by="new")

    def flush(self) -> None:
        """Write the new people, keys and possible-duplicate tasks (before rows that refer to them)."""
        if self._persons:
            self._connection.execute(_INSERT_PERSONS, self._persons)
        if self._keys:
            self._connection.execute(_INSERT_KEYS, self._keys)
        created = {str(person["person_id"]) for person in self._persons}
        _flag_duplicates(self._connection, list(dict.fromkeys(self._duplicates)), created)
        self._persons, self._keys, self._duplicates = [], [], []

    def _add_keys(self, person_id: str, keys: SubjectKeys) -> None:
        for kind, key_hash in dict.fromkeys(keys.all()):
            if (kind, key_hash, person_id) in self._found.raw:
                continue
            self._found.raw.add((kind, key_hash, person_id))
            holders = self._found.holders.setdefault((kind, key_hash), [])
            if person_id not in holders:
                holders.append(person_id)
            self._keys.append({"kind": kind, "key_hash": key_hash, "person_id": person_id})


def resolve(*, connection: Connection, keys: SubjectKeys, defines_subject: bool = False) -> Resolution:
    """Find or create the person for one subject and record its keys.

    `defines_subject` is true for records that *are* the person (a Patient, an ADT message):
    they may create a person from a logical id alone; a reference to one may not.

    Raises:
        SubjectUnresolved: only an unknown logical id to go on.
    """
    resolver = BatchResolver(connection, [keys])
    resolution = resolver.resolve(keys, defines_subject=defines_subject)
    resolver.flush()
    return resolution


def merge(*, connection: Connection, surviving: str, merged_keys: SubjectKeys) -> list[str]:
    """ADT^A40: point every person holding the merged identifiers at the survivor."""
    resolver = BatchResolver(connection, [merged_keys])
    merged = [
        p for p in resolver._found.people([("id", k) for k in merged_keys.identifiers]) if p != surviving
    ]
    for person_id in merged:
        connection.execute(
            update(_persons).where(_persons.c.person_id == person_id).values(merged_into=surviving)
        )
    resolver._add_keys(surviving, merged_keys)
    resolver.flush()
    return merged


def open_duplicates(*, connection: Connection) -> list[PersonDuplicateRow]:
    query = (
        select(PersonDuplicateRow)
        .where(col(PersonDuplicateRow.resolved_at).is_(None))
        .order_by(col(PersonDuplicateRow.id))
    )
    return [PersonDuplicateRow.model_validate(row._mapping) for row in connection.execute(query)]


def canonical(connection: Connection, person_id: str) -> str:
    """Follow merges to the surviving person."""
    seen = {person_id}
    while True:
        merged_into = connection.execute(
            select(_persons.c.merged_into).where(_persons.c.person_id == person_id)
        ).scalar_one_or_none()
        if not merged_into or merged_into in seen:
            return person_id
        seen.add(merged_into)
        person_id = merged_into


def _lock_keys(connection: Connection, keys: list[tuple[str, str]]) -> None:
    """On PostgreSQL, lock the subject's keys for this transaction before looking them up.

    Without it, two transactions about the same new person (two replicas, or two requests)
    both find nobody and both create a person. Records about different people do not wait for
    each other.
    """
    transaction_locks.hold(
        connection, (transaction_locks.lock_key(bytes.fromhex(key_hash[:16])) for _, key_hash in keys)
    )


# Built once: every group commit runs these, and building a statement cost more than running it.
_INSERT_PERSONS = insert(_persons)
_INSERT_KEYS = insert(_keys)
_INSERT_DUPLICATES = insert(_duplicates)
_OPEN_DUPLICATES = select(_duplicates.c.person_id, _duplicates.c.candidate_person_id).where(
    _duplicates.c.person_id.in_(bindparam("people", expanding=True))
)
_MERGED_INTO = select(_persons.c.person_id).where(
    _persons.c.merged_into.in_(bindparam("people", expanding=True))
)


@functools.lru_cache(maxsize=128)
def _holders_statement(count: int) -> TextClause:
    """Who holds `count` (kind, hash) pairs: the pairs as a VALUES table joined to the keys.

    Each pair is one probe of uq_person_keys. `kind IN (...) AND key_hash IN (...)` made SQLite
    probe every kind with every hash (six times the work: 114 against 28 µs for a group commit
    of four new people among 100,000 keys), a row-value IN scanned the table. One statement per
    count, built once, so SQLAlchemy compiles it once.
    """
    pairs = ", ".join(f"(:kind_{n}, :hash_{n})" for n in range(count))
    return text(
        f"WITH wanted(kind, key_hash) AS (VALUES {pairs}) "  # noqa: S608 (placeholders only)
        "SELECT k.kind, k.key_hash, k.person_id, p.merged_into FROM wanted AS w "
        "JOIN person_keys AS k ON k.kind = w.kind AND k.key_hash = w.key_hash "
        "JOIN persons AS p ON p.person_id = k.person_id ORDER BY k.id"
    )


def _lookup(connection: Connection, keys: list[tuple[str, str]]) -> _Found:
    found = _Found(holders={}, raw=set())
    if not keys:
        return found
    keys = list(dict.fromkeys(keys))
    parameters: dict[str, str] = {}
    for n, (kind, key_hash) in enumerate(keys):
        parameters[f"kind_{n}"] = kind
        parameters[f"hash_{n}"] = key_hash
    rows = connection.execute(_holders_statement(len(keys)), parameters).all()
    for kind, key_hash, person_id, merged_into in rows:
        found.raw.add((kind, key_hash, person_id))
        holder = canonical(connection, merged_into) if merged_into else person_id
        holders = found.holders.setdefault((kind, key_hash), [])
        if holder not in holders:
            holders.append(holder)
    return found


def _flag_duplicates(
    connection: Connection, pairs: list[tuple[str, str, str]], created: AbstractSet[str] = frozenset()
) -> None:
    """Record possible-duplicate tasks not already open, in at most one query and one insert.

    People in `created` were made in this transaction, so no task names them yet: a batch of new
    people (the usual group commit) skips the query.
    """
    if not pairs:
        return
    known = sorted({p for p, _, _ in pairs} - created)
    existing = set(connection.execute(_OPEN_DUPLICATES, {"people": known}).all()) if known else set()
    rows = [
        {"person_id": p, "candidate_person_id": c, "reason": r, "created_at": _now(), "resolved_at": None}
        for p, c, r in pairs
        if (p, c) not in existing
    ]
    if rows:
        connection.execute(_INSERT_DUPLICATES, rows)


def _now() -> datetime:
    return datetime.now(UTC)


def find_existing(*, connection: Connection, keys: SubjectKeys) -> str | None:
    """The person an identifier or the sender's logical id already names; never creates one.

    For records that must be about someone known (a consent): demographics alone never link.
    """
    exact = keys.exact()
    people = _lookup(connection, exact).people(exact)
    return people[0] if people else None


def holders(*, connection: Connection, keys: list[tuple[str, str]]) -> list[str]:
    """Every surviving person holding any of `keys` (a demographic search may name several)."""
    return _lookup(connection, keys).people(keys)


def existing_person(*, connection: Connection, person_id: str) -> str | None:
    """`person_id` followed to its surviving person, or None if there is no such person."""
    found = connection.execute(
        select(_persons.c.person_id).where(_persons.c.person_id == person_id)
    ).scalar_one_or_none()
    return canonical(connection, found) if found else None


def merged_ids(*, connection: Connection, person_id: str) -> list[str]:
    """The person and everyone merged into them (directly or through others), survivor first."""
    found = [person_id]
    frontier = [person_id]
    while frontier:
        children = connection.execute(_MERGED_INTO, {"people": frontier}).scalars()
        frontier = [child for child in children if child not in found]
        found += frontier
    return found
