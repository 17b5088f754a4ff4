"""The person index in SQL: resolve a subject's blind keys to a person, link, merge, flag duplicates.

Resolution (DESIGN.md 4), in order:
1. an identifier or logical-id key already known → that person (merges followed);
   keys pointing at two different people → the first, plus a possible-duplicate task;
2. the exact demographic key (fgbs, or fgb without sex) held by exactly one person → link;
3. otherwise a new person; any demographic candidates become possible-duplicate tasks.
A subject with nothing to match on but an unknown logical id does not resolve.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlmodel import Session, col

from gateway.person_keys import SubjectKeys
from gateway.store.tables import PersonDuplicateRow, PersonKeyRow, PersonRow


class SubjectUnresolved(Exception):
    """The record names its subject only by a reference the index does not know."""


@dataclass(frozen=True)
class Resolution:
    person_id: str
    created: bool
    matched_by: str  # identifier | logical_id | demographics | new


def resolve(*, session: Session, keys: SubjectKeys, defines_subject: bool = False) -> Resolution:
    """Find or create the person for a subject and record its keys.

    `defines_subject` is true for records that *are* the person (a Patient, an ADT message):
    they may create a person from a logical id alone; a reference to one may not.

    Raises:
        SubjectUnresolved: only an unknown logical id to go on.
    """
    exact = list(keys.identifiers) + ([keys.logical_id] if keys.logical_id else [])
    if exact:
        found = _people_by_keys(
            session,
            [("id", k) for k in keys.identifiers] + ([("lid", keys.logical_id)] if keys.logical_id else []),
        )
        if found:
            person_id = found[0]
            for other in found[1:]:
                _flag_duplicate(session, person_id, other, "IDENTIFIER_CONFLICT")
            _add_keys(session, person_id, keys)
            return Resolution(
                person_id, created=False, matched_by="identifier" if keys.identifiers else "logical_id"
            )
    if not keys.identifiers and not keys.demographics and not defines_subject:
        raise SubjectUnresolved()
    if keys.exact_demographics:
        candidates = _people_by_keys(session, [(keys.exact_kind, keys.exact_demographics)])
        if len(candidates) == 1:
            _add_keys(session, candidates[0], keys)
            return Resolution(candidates[0], created=False, matched_by="demographics")
    person_id = str(uuid.uuid4())
    session.execute(insert(PersonRow).values(person_id=person_id, merged_into=None, created_at=_now()))
    related = _people_by_keys(session, [("fgb", keys.demographics)] if keys.demographics else [])
    reason = "DEMOGRAPHIC_AMBIGUOUS"
    if not related:
        related = _people_by_keys(
            session, [(kind, k) for kind, k in zip(("fb", "gb"), keys.partial, strict=True) if k]
        )
        reason = "PARTIAL_DEMOGRAPHICS"
    for other in related:
        _flag_duplicate(session, person_id, other, reason)
    _add_keys(session, person_id, keys)
    return Resolution(person_id, created=True, matched_by="new")


def merge(*, session: Session, surviving: str, merged_keys: SubjectKeys) -> list[str]:
    """ADT^A40: point every person holding the merged identifiers at the survivor."""
    merged = [
        p for p in _people_by_keys(session, [("id", k) for k in merged_keys.identifiers]) if p != surviving
    ]
    for person_id in merged:
        session.execute(
            update(PersonRow).where(PersonRow.person_id == person_id).values(merged_into=surviving)
        )
    _add_keys(session, surviving, merged_keys)
    return merged


def open_duplicates(*, session: Session) -> list[PersonDuplicateRow]:
    query = (
        select(PersonDuplicateRow)
        .where(col(PersonDuplicateRow.resolved_at).is_(None))
        .order_by(col(PersonDuplicateRow.id))
    )
    return list(session.execute(query).scalars())


def canonical(session: Session, person_id: str) -> str:
    """Follow merges to the surviving person."""
    seen = {person_id}
    while True:
        merged_into = session.execute(
            select(PersonRow.merged_into).where(PersonRow.person_id == person_id)
        ).scalar_one_or_none()
        if not merged_into or merged_into in seen:
            return person_id
        seen.add(merged_into)
        person_id = merged_into


def _people_by_keys(session: Session, keys: list[tuple[str, str]]) -> list[str]:
    """Distinct canonical people holding any of the keys, in the order the keys were given."""
    if not keys:
        return []
    rows = session.execute(
        select(PersonKeyRow.kind, PersonKeyRow.key_hash, PersonKeyRow.person_id).where(
            col(PersonKeyRow.key_hash).in_([k for _, k in keys])
        )
    ).all()
    by_key: dict[tuple[str, str], list[str]] = {}
    for kind, key_hash, person_id in rows:
        by_key.setdefault((kind, key_hash), []).append(person_id)
    people: list[str] = []
    for key in keys:
        for person_id in sorted(by_key.get(key, [])):
            resolved = canonical(session, person_id)
            if resolved not in people:
                people.append(resolved)
    return people


def _add_keys(session: Session, person_id: str, keys: SubjectKeys) -> None:
    wanted = keys.all()
    if not wanted:
        return
    present = {
        (kind, key_hash)
        for kind, key_hash in session.execute(
            select(PersonKeyRow.kind, PersonKeyRow.key_hash).where(
                PersonKeyRow.person_id == person_id, col(PersonKeyRow.key_hash).in_([k for _, k in wanted])
            )
        ).all()
    }
    missing = [
        {"kind": kind, "key_hash": k, "person_id": person_id}
        for kind, k in dict.fromkeys(wanted)
        if (kind, k) not in present
    ]
    if missing:
        session.execute(insert(PersonKeyRow), missing)


def _flag_duplicate(session: Session, person_id: str, candidate: str, reason: str) -> None:
    exists = session.execute(
        select(PersonDuplicateRow.id).where(
            PersonDuplicateRow.person_id == person_id, PersonDuplicateRow.candidate_person_id == candidate
        )
    ).first()
    if exists is None:
        session.execute(
            insert(PersonDuplicateRow).values(
                person_id=person_id,
                candidate_person_id=candidate,
                reason=reason,
                created_at=_now(),
                resolved_at=None,
            )
        )


def _now() -> datetime:
    return datetime.now(UTC)
