"""SQL access to consent versions. Statements run on the caller's connection and transaction.

The ledger's append-only rule is kept three ways: this module only inserts; the database
refuses UPDATE and DELETE (triggers); and the hash chain (`rules.verify_chain`) shows any
row changed or removed behind the triggers' back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from consent_ledger.domain import Change, ConsentTerms, ConsentVersion
from consent_ledger.errors import StaleVersion
from consent_ledger.sql.tables import ConsentVersionRow

_versions = ConsentVersionRow.__table__  # type: ignore[attr-defined]
_VERSION_COLUMNS = [c for c in _versions.c if c.name not in ("id", "document_sealed")]


def append(*, connection: Connection, version: ConsentVersion, document_sealed: bytes) -> None:
    """Insert one version (in a savepoint, so a lost race leaves the transaction usable).

    Raises:
        StaleVersion: that version number of that consent exists already (a concurrent change).
    """
    row = row_of(version, document_sealed)
    try:
        with connection.begin_nested():
            connection.execute(insert(_versions), [row])
    except IntegrityError:
        raise StaleVersion(f"consent {version.consent_id} already has version {version.version}") from None


def row_of(version: ConsentVersion, document_sealed: bytes) -> dict[str, object]:
    """The table row of a version (its sealed text beside it), as `append` inserts it."""
    return {
        "consent_id": version.consent_id,
        "version": version.version,
        "person_id": version.person_id,
        "change": version.change.value,
        "terms": json.dumps(version.terms.as_json(), sort_keys=True, separators=(",", ":")),
        "recorded_at": version.recorded_at,
        "effective_at": version.effective_at,
        "recorded_by_client": version.recorded_by_client,
        "recorded_by_org": version.recorded_by_org,
        "reason": version.reason,
        "document_sha256": version.document_sha256,
        "document_sealed": document_sealed,
        "prev_hash": version.prev_hash,
        "row_hash": version.row_hash,
    }


def history(*, connection: Connection, consent_id: str) -> list[ConsentVersion]:
    """Every version of one consent, oldest first ([] for an unknown id)."""
    rows = connection.execute(
        select(*_VERSION_COLUMNS).where(_versions.c.consent_id == consent_id).order_by(_versions.c.version)
    )
    return [_version(row._mapping) for row in rows]


# Built once: every flag pull, lookup and consent decision runs one of them.
_ALL_FOR_PERSONS = (
    select(*_VERSION_COLUMNS)
    .where(_versions.c.person_id.in_(bindparam("people", expanding=True)))
    .order_by(_versions.c.consent_id, _versions.c.version)
)
_KNOWN_FOR_PERSONS = (
    select(*_VERSION_COLUMNS)
    .where(
        _versions.c.person_id.in_(bindparam("people", expanding=True)),
        _versions.c.recorded_at <= bindparam("known_at"),
    )
    .order_by(_versions.c.consent_id, _versions.c.version)
)


def for_persons(
    *, connection: Connection, person_ids: Sequence[str], known_at: datetime | None = None
) -> list[ConsentVersion]:
    """Every version about these people, recorded at or before `known_at` (all when None)."""
    if known_at is None:
        rows = connection.execute(_ALL_FOR_PERSONS, {"people": list(person_ids)})
    else:
        rows = connection.execute(_KNOWN_FOR_PERSONS, {"people": list(person_ids), "known_at": known_at})
    return [_version(row._mapping) for row in rows]


def document(*, connection: Connection, consent_id: str, version: int) -> bytes | None:
    """The sealed FHIR text of one version."""
    return connection.execute(
        select(_versions.c.document_sealed).where(
            _versions.c.consent_id == consent_id, _versions.c.version == version
        )
    ).scalar_one_or_none()


def all_histories(*, connection: Connection) -> Iterator[list[ConsentVersion]]:
    """Every consent's versions, one consent at a time (for the chain check)."""
    rows = connection.execute(select(*_VERSION_COLUMNS).order_by(_versions.c.consent_id, _versions.c.version))
    current: list[ConsentVersion] = []
    for row in rows:
        version = _version(row._mapping)
        if current and current[0].consent_id != version.consent_id:
            yield current
            current = []
        current.append(version)
    if current:
        yield current


def _version(row: object) -> ConsentVersion:
    data = dict(row)  # type: ignore[call-overload]
    return ConsentVersion(
        consent_id=data["consent_id"],
        version=data["version"],
        person_id=data["person_id"],
        change=Change(data["change"]),
        terms=ConsentTerms.from_json(json.loads(data["terms"])),
        recorded_at=data["recorded_at"],
        effective_at=data["effective_at"],
        recorded_by_client=data["recorded_by_client"],
        recorded_by_org=data["recorded_by_org"],
        reason=data["reason"],
        document_sha256=data["document_sha256"],
        prev_hash=data["prev_hash"],
        row_hash=data["row_hash"],
    )
