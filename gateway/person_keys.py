"""Blind-index keys for a record's subject (DESIGN.md section 4). Pure: no SQL.

Each key is HMAC-SHA256 under the keyring's index key over a kind tag and normalised parts,
so the database can match people without holding a readable name, birth date or number.

Kinds:
- `id`   an identifier (system, value): an exact link.
- `lid`  a sender's own logical Patient id (org, id): FHIR references to an earlier Patient.
- `fgbs` family + given + birth date + sex; `fgb` family + given + birth date: the
  deterministic demographic match (with sex when the record has it).
- `fb`, `gb` family + birth date, given + birth date: candidates for possible duplicates.

Normalisation: Unicode NFKD with accents removed, upper case, letters only ("O'Brien-Smith"
→ "OBRIENSMITH"); birth date ISO; sex M/F/O/U.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass

from connectors.envelope import SubjectRef


@dataclass(frozen=True)
class SubjectKeys:
    identifiers: tuple[str, ...]
    logical_id: str | None
    exact_demographics: str | None  # fgbs when sex is known, else fgb
    demographics: str | None  # fgb
    partial: tuple[str, ...]  # fb, gb

    def exact(self) -> list[tuple[str, str]]:
        """The keys that link on their own: identifiers and the sender's logical id."""
        return [("id", k) for k in self.identifiers] + ([("lid", self.logical_id)] if self.logical_id else [])

    def all(self) -> list[tuple[str, str]]:
        keys = self.exact()
        if self.exact_demographics and self.exact_demographics != self.demographics:
            keys.append(("fgbs", self.exact_demographics))
        if self.demographics:
            keys.append(("fgb", self.demographics))
        keys += [(("fb", "gb")[i], k) for i, k in enumerate(self.partial) if k]
        return keys

    @property
    def exact_kind(self) -> str:
        return "fgb" if self.exact_demographics == self.demographics else "fgbs"


def normalise_name(name: str | None) -> str:
    if not name:
        return ""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if ch.isalpha() and not unicodedata.combining(ch)).upper()


def _mac(index_key: bytes, kind: str, *parts: str) -> str:
    message = "\x1f".join((kind, *parts)).encode()
    return hmac.new(index_key, message, hashlib.sha256).hexdigest()


def subject_keys(subject: SubjectRef, *, org_id: str, index_key: bytes) -> SubjectKeys:
    identifiers = tuple(
        _mac(index_key, "id", identifier.system.strip(), identifier.value.strip())
        for identifier in subject.identifiers
    )
    logical = _mac(index_key, "lid", org_id, subject.source_logical_id) if subject.source_logical_id else None
    demo = subject.demographics
    family, given = normalise_name(demo.family), normalise_name(demo.given)
    birth = demo.birth_date.isoformat() if demo.birth_date else ""
    fgb = _mac(index_key, "fgb", family, given, birth) if family and given and birth else None
    fgbs = (
        _mac(index_key, "fgbs", family, given, birth, demo.sex)
        if fgb and demo.sex in ("M", "F", "O")
        else fgb
    )
    partial = (
        _mac(index_key, "fb", family, birth) if family and birth else "",
        _mac(index_key, "gb", given, birth) if given and birth else "",
    )
    return SubjectKeys(
        identifiers=identifiers,
        logical_id=logical,
        exact_demographics=fgbs,
        demographics=fgb,
        partial=partial,
    )
