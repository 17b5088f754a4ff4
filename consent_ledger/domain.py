"""The consent ledger's types: what a consent says, each stored version, and the facts it yields.

No SQL and no FHIR here: `fhir.py` reads FHIR Consent into `ConsentTerms`, `sql/` stores
`ConsentVersion`s, `rules.py` turns a history into `ConsentFact`s for the policy engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from policies.vocabulary import DataClass, PurposeOfUse


class Change(StrEnum):
    """What a version did to its consent."""

    RECORD = "record"  # first version
    UPDATE = "update"  # a new text of the same consent (e.g. a draft completed and signed)
    REVOKE = "revoke"  # the person withdrew it; final
    EXPIRE = "expire"  # its expiry event happened; final


FINAL_CHANGES = frozenset({Change.REVOKE, Change.EXPIRE})


class FactStatus(StrEnum):
    """A consent's status at an instant, as the decision contract names it (DESIGN.md 7)."""

    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    DRAFT = "draft"


@dataclass(frozen=True)
class ConsentTerms:
    """What a consent permits, read from its FHIR text. Codes and ids only, never names.

    `part2_missing` and `hipaa_missing` name the elements of 42 CFR 2.31(a) and
    45 CFR 164.508(c) the form lacks; empty means complete.
    """

    fhir_status: str  # draft | proposed | active | rejected | inactive | entered-in-error
    scope: frozenset[DataClass]
    recipient_orgs: tuple[str, ...]
    recipient_types: tuple[str, ...]
    purposes: frozenset[PurposeOfUse]
    period_start: datetime | None = None
    period_end: datetime | None = None
    expiry_event: bool = False  # an expiry event is named (its text stays in the sealed form)
    part2_missing: tuple[str, ...] = ()
    hipaa_missing: tuple[str, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.recipient_orgs + self.recipient_types

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form, stable for hashing: sorted lists, RFC 3339 UTC instants."""
        return {
            "fhir_status": self.fhir_status,
            "scope": sorted(c.value for c in self.scope),
            "recipient_orgs": sorted(self.recipient_orgs),
            "recipient_types": sorted(self.recipient_types),
            "purposes": sorted(p.value for p in self.purposes),
            "period_start": instant_text(self.period_start),
            "period_end": instant_text(self.period_end),
            "expiry_event": self.expiry_event,
            "part2_missing": list(self.part2_missing),
            "hipaa_missing": list(self.hipaa_missing),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConsentTerms:
        return cls(
            fhir_status=str(data["fhir_status"]),
            scope=frozenset(DataClass(c) for c in data["scope"]),
            recipient_orgs=tuple(data["recipient_orgs"]),
            recipient_types=tuple(data["recipient_types"]),
            purposes=frozenset(PurposeOfUse(p) for p in data["purposes"]),
            period_start=parse_instant(data["period_start"]),
            period_end=parse_instant(data["period_end"]),
            expiry_event=bool(data["expiry_event"]),
            part2_missing=tuple(data["part2_missing"]),
            hipaa_missing=tuple(data["hipaa_missing"]),
        )


@dataclass(frozen=True)
class ConsentVersion:
    """One append-only row of the ledger; `row_hash` chains it to the version before."""

    consent_id: str
    version: int
    person_id: str
    change: Change
    terms: ConsentTerms
    recorded_at: datetime  # when the ledger learnt of it
    effective_at: datetime  # when it takes effect (a revocation may be dated ahead)
    recorded_by_client: str
    recorded_by_org: str
    reason: str | None  # a code for revocation and expiry, never free text
    document_sha256: str  # of the FHIR JSON stored sealed beside it
    prev_hash: str
    row_hash: str = field(default="")


@dataclass(frozen=True)
class ConsentFact:
    """One consent as the policy engine sees it (DESIGN.md 7 `consents[]`)."""

    id: str
    status: FactStatus
    scope: tuple[str, ...]
    recipients: tuple[str, ...]
    purposes: tuple[str, ...]
    part2_elements_complete: bool
    expires: str | None  # RFC 3339 instant, or None for no expiry date

    def as_input(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "scope": list(self.scope),
            "recipients": list(self.recipients),
            "purposes": list(self.purposes),
            "part2_elements_complete": self.part2_elements_complete,
            "expires": self.expires,
        }


def instant_text(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds; a naive value (SQLite returns these) is taken as UTC."""
    if value is None:
        return None
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_utc(value: datetime) -> datetime:
    """An aware UTC instant; a naive value (SQLite returns these) is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
