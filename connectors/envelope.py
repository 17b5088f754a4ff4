"""The common envelope: every inbound record, whatever its format (DESIGN.md section 3).

Invariants:
- `source.org_id` is the authenticated sender's org, never read from the payload.
- `subject.person_id` is None when a connector makes the envelope; the person index fills it.
- `payload` holds the original bytes; `payload_sha256` is their digest. Payload and facts
  are sealed before storage; nothing here is ever logged (repr hides payload and subject).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from policies.vocabulary import DataClass

FactValue = str | bool | int | None


class RecordKind(StrEnum):
    ENCOUNTER = "encounter"
    FLAG = "flag"
    CONSENT = "consent"
    INCIDENT = "incident"
    DOCUMENT = "document"
    CONDITION = "condition"
    OBSERVATION = "observation"
    CARE_TEAM = "care_team"
    CRISIS_PLAN = "crisis_plan"
    PATIENT = "patient"  # demographics-only records (FHIR Patient, ADT A28/A31): an addition to DESIGN.md 3


class Identifier(BaseModel):
    model_config = ConfigDict(frozen=True)

    system: str
    value: str

    def __repr__(self) -> str:  # the value is a record number: never shown
        return f"Identifier(system={self.system!r})"

    __str__ = __repr__


class Demographics(BaseModel):
    model_config = ConfigDict(frozen=True)

    family: str | None = None
    given: str | None = None
    birth_date: date | None = None
    sex: str | None = None  # administrative gender, normalised: M | F | O | U

    def __repr__(self) -> str:
        return "Demographics(<hidden>)"

    __str__ = __repr__


class SubjectRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    identifiers: tuple[Identifier, ...] = ()
    demographics: Demographics = Demographics()
    person_id: str | None = None
    source_logical_id: str | None = None  # the sender's own Patient id (FHIR), for later references

    def __repr__(self) -> str:  # never show identifiers or names
        return f"SubjectRef(identifiers={len(self.identifiers)}, person_id={self.person_id!r})"

    __str__ = __repr__


class SourceRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    org_id: str
    system: str | None = None  # sending application, as the sender names it
    format: Literal["fhir-r4", "hl7v2", "police-incident"]
    message_id: str | None = None


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    envelope_id: str
    received_at: datetime
    source: SourceRef
    subject: SubjectRef
    kind: RecordKind
    occurred_at: datetime | None = None
    data_classes: frozenset[DataClass]
    security_labels: frozenset[str] = frozenset()
    facts: dict[str, FactValue] = Field(default_factory=dict)
    payload: bytes = Field(repr=False)
    payload_sha256: str
    warnings: tuple[str, ...] = ()  # codes, e.g. "MSH4_ORG_MISMATCH"
    merge_from: tuple[Identifier, ...] = ()  # ADT^A40: identifiers of the person merged away

    def __repr__(self) -> str:
        return f"Envelope(id={self.envelope_id!r}, kind={self.kind.value!r}, source={self.source.org_id!r})"

    __str__ = __repr__


def new_envelope_id() -> str:
    """Time-ordered, so envelope ids sort by receipt."""
    return time_ordered_id()


def time_ordered_id() -> str:
    """A UUIDv7 (RFC 9562 5.7). Rows keyed by it are appended at the end of their index, where
    a random id dirties a page anywhere in it. Only where the creation time is no secret."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
