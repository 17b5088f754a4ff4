"""Police RMS/CAD incidents → `cji` envelopes, one per involved person (DESIGN.md 3, 5).

The incident format is a small JSON document modelled on NIEM Justice / APCO-NENA EIDD:
incident id, nature (call type) code, when, where, who was involved and in what role, and a
narrative. Every record from a police push is criminal-justice information (`cji`) whatever it
says, so it is never classified as health data. Each involved person gets an envelope of their
own, so the person index links each to their record; they share the sealed payload.

Pure: bytes in, envelopes out. Validation errors name element paths and error types only.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.classify import classify
from connectors.envelope import (
    Demographics,
    Envelope,
    Identifier,
    RecordKind,
    SourceRef,
    SubjectRef,
    new_envelope_id,
    sha256_hex,
)
from connectors.errors import Issue, IssuesFound, MalformedMessage

MAX_NARRATIVE = 20_000  # characters: a long report, not an attachment store
RMS_PERSON_SYSTEM = "urn:consent-gateway:org:{org_id}:rms-person"  # when a person id has no system


class InvolvementRole(StrEnum):
    """EIDD/NIEM person roles, reduced to what the gateway distinguishes."""

    SUBJECT = "subject"  # the person the call is about (e.g. in crisis)
    VICTIM = "victim"
    WITNESS = "witness"
    REPORTING_PARTY = "reporting_party"
    OTHER = "other"


class PersonIdentifier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str | None = Field(default=None, max_length=255, description="URI; default: the agency's RMS")
    value: str = Field(min_length=1, max_length=64, description="e.g. the RMS person number")


class PersonName(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str = Field(min_length=1, max_length=100)
    given: str | None = Field(default=None, max_length=100)


class InvolvedPerson(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: InvolvementRole
    identifiers: list[PersonIdentifier] = Field(default_factory=list, max_length=10)
    name: PersonName | None = None
    birth_date: date | None = None
    sex: str | None = Field(default=None, pattern="^[MFOU]$")


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(default=None, max_length=255)
    city: str | None = Field(default=None, max_length=100)
    state: str | None = Field(default=None, max_length=32)
    postal_code: str | None = Field(default=None, max_length=16)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class Incident(BaseModel):
    """A police incident as an RMS/CAD pushes it (`POST /police/incidents`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Police incident")

    incident_id: str = Field(min_length=1, max_length=64, description="the agency's incident number")
    nature_code: str = Field(
        min_length=1, max_length=32, description="call type / nature code, e.g. 'MENTAL', 'WELFARE', '10-96'"
    )
    occurred_at: datetime = Field(description="RFC 3339 instant with offset")
    location: Location | None = None
    involved_persons: list[InvolvedPerson] = Field(min_length=1, max_length=50)
    narrative: str | None = Field(default=None, max_length=MAX_NARRATIVE)


def incident_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) served at `/police/incidents/schema`."""
    schema = Incident.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def parse_incident(data: bytes) -> Incident:
    """Raises: IssuesFound (element paths and error types, never values); MalformedMessage."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedMessage("body is not JSON", code="structure", location="body") from None
    try:
        incident = Incident.model_validate(document)
    except ValidationError as error:
        raise IssuesFound(
            [
                Issue("error", "invalid", _path(e["loc"]), e["type"])
                for e in error.errors(include_input=False, include_url=False)
            ]
        ) from None
    if incident.occurred_at.tzinfo is None:
        raise IssuesFound([Issue("error", "invalid", "occurred_at", "an offset (e.g. Z) is required")])
    return incident


def incident_envelopes(
    incident: Incident, *, org_id: str, received_at: datetime, payload: bytes
) -> list[Envelope]:
    """One `cji` envelope per involved person, sharing the incident's payload."""
    classification = classify(codes=(), labels=set(), cji=True)
    envelopes = []
    for person in incident.involved_persons:
        envelopes.append(
            Envelope(
                envelope_id=new_envelope_id(),
                received_at=received_at,
                source=SourceRef(
                    org_id=org_id, format="police-incident", message_id=f"incident:{incident.incident_id}"
                ),
                subject=_subject(person, org_id),
                kind=RecordKind.INCIDENT,
                occurred_at=incident.occurred_at.astimezone(UTC),
                data_classes=classification.data_classes,
                security_labels=classification.security_labels,
                facts={"nature_code": incident.nature_code, "role": person.role.value},
                payload=payload,
                payload_sha256=sha256_hex(payload),
            )
        )
    return envelopes


def _subject(person: InvolvedPerson, org_id: str) -> SubjectRef:
    default_system = RMS_PERSON_SYSTEM.format(org_id=org_id)
    return SubjectRef(
        identifiers=tuple(
            Identifier(system=identifier.system or default_system, value=identifier.value)
            for identifier in person.identifiers
        ),
        demographics=Demographics(
            family=person.name.family if person.name else None,
            given=person.name.given if person.name else None,
            birth_date=person.birth_date,
            sex=person.sex,
        ),
    )


def _path(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        else:
            parts.append(str(part))
    return ".".join(parts) or "body"
