"""A parsed HL7 v2 message → one Envelope (DESIGN.md sections 3 and 5).

Invariants:
- `source.org_id` is the authenticated sender's org; MSH-4 is only compared with it, and a
  difference becomes the warning code `MSH4_ORG_MISMATCH`, never trusted.
- Identifier systems: an assigning authority's OID gives `urn:oid:<oid>` (so the same MRN
  links across HL7 v2 and FHIR); a namespace id gives `urn:consent-gateway:aa:<namespace>`;
  no authority at all scopes the id to the sending org.
- Facts are coded and small (no names, no free text).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

from connectors.classify import classify, is_behavioral_health, is_crisis
from connectors.envelope import (
    Demographics,
    Envelope,
    FactValue,
    Identifier,
    RecordKind,
    SourceRef,
    SubjectRef,
    new_envelope_id,
    sha256_hex,
)
from connectors.hl7v2.parse import FieldReader, Hl7Message, MessageReader

_KINDS = {
    ("ADT", "A01"): RecordKind.ENCOUNTER,
    ("ADT", "A03"): RecordKind.ENCOUNTER,
    ("ADT", "A04"): RecordKind.ENCOUNTER,
    ("ADT", "A08"): RecordKind.ENCOUNTER,
    ("ADT", "A28"): RecordKind.PATIENT,
    ("ADT", "A31"): RecordKind.PATIENT,
    ("ADT", "A40"): RecordKind.PATIENT,
    ("ORU", "R01"): RecordKind.OBSERVATION,
    ("MDM", "T02"): RecordKind.DOCUMENT,
}
_SEX = {"M": "M", "F": "F", "O": "O", "U": "U", "A": "O", "N": "U", "X": "O"}
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$")


def to_envelope(
    message: Hl7Message,
    *,
    org_id: str,
    source_is_part2_program: bool,
    received_at: datetime,
    payload: bytes | None = None,
) -> Envelope:
    """Build the envelope; `payload` overrides the stored bytes (e.g. with MSH-8 blanked)."""
    header = message.header
    reader = message.reader
    pid = reader.segments("PID")[0]
    codes = _codes(message)
    labels = {v for arv in reader.segments("ARV") if (v := arv.value(3))}
    classification = classify(
        codes=codes,
        labels=labels,
        source_is_part2_program=source_is_part2_program,
        document_types=_document_types(message),
    )
    kind = _KINDS[(header.message_type, header.trigger_event)]
    stored = message.raw if payload is None else payload
    warnings = []
    facility = _first(reader, "MSH", 4)
    if facility and facility.lower() != org_id.lower():
        warnings.append("MSH4_ORG_MISMATCH")
    return Envelope(
        envelope_id=new_envelope_id(),
        received_at=received_at,
        source=SourceRef(
            org_id=org_id,
            system=_first(reader, "MSH", 3) or None,
            format="hl7v2",
            message_id=header.control_id,
        ),
        subject=SubjectRef(identifiers=identifiers(pid, 3, org_id), demographics=_demographics(pid)),
        kind=kind,
        occurred_at=_occurred_at(message),
        data_classes=classification.data_classes,
        security_labels=classification.security_labels,
        facts=_facts(message, codes),
        payload=stored,
        payload_sha256=sha256_hex(stored),
        warnings=tuple(warnings),
        merge_from=_merge_from(message, org_id),
    )


def identifiers(segment: FieldReader, field: int, org_id: str) -> tuple[Identifier, ...]:
    """CX repetitions → identifiers with a system that means the same across formats."""
    found: list[Identifier] = []
    for rep in range(1, segment.repetitions(field) + 1):
        value = segment.value(field, 1, 1, rep)
        if not value:
            continue
        oid = segment.value(field, 4, 2, rep)
        namespace = segment.value(field, 4, 1, rep)
        id_type = segment.value(field, 5, 1, rep)
        if oid:
            system = f"urn:oid:{oid}"
        elif namespace:
            system = f"urn:consent-gateway:aa:{namespace}"
        else:
            system = f"urn:consent-gateway:org:{org_id}:{id_type or 'local'}"
        found.append(Identifier(system=system, value=value))
    return tuple(found)


def parse_dtm(text: str) -> datetime | None:
    """HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) → an aware datetime (UTC when no zone)."""
    match = _DTM.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    tz = UTC
    if zone:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])))
    try:
        return datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=tz,
        )
    except ValueError:
        return None


def _birth_date(text: str) -> date | None:
    match = _DTM.match(text.strip())
    if not match or not match.group(3):  # a birth date needs the day to be usable for matching
        return None
    parsed = parse_dtm(text)
    return parsed.date() if parsed else None


def _demographics(pid: FieldReader) -> Demographics:
    return Demographics(
        family=pid.value(5, 1) or None,
        given=pid.value(5, 2) or None,
        birth_date=_birth_date(pid.value(7)),
        sex=_SEX.get(pid.value(8).upper()),
    )


def _first(reader: MessageReader, segment: str, field: int, component: int = 1) -> str:
    segments = reader.segments(segment)
    return str(segments[0].value(field, component)) if segments else ""


def _codes(message: Hl7Message) -> list[tuple[str, str]]:
    reader = message.reader
    codes: list[tuple[str, str]] = []
    for dg1 in reader.segments("DG1"):
        code, system = dg1.value(3, 1), dg1.value(3, 3)
        if code:
            codes.append((system or "I10", code))
    for pv1 in reader.segments("PV1"):
        if service := pv1.value(10):
            codes.append(("HL70069", service))
    return codes


def _document_types(message: Hl7Message) -> list[tuple[str, str]]:
    return [("HL70270", value) for txa in message.reader.segments("TXA") if (value := txa.value(2))]


def _occurred_at(message: Hl7Message) -> datetime | None:
    reader = message.reader
    for segment, field in (("EVN", 6), ("PV1", 44), ("EVN", 2), ("OBR", 7), ("TXA", 4), ("MSH", 7)):
        value = _first(reader, segment, field)
        if value and (when := parse_dtm(value)):
            return when.astimezone(UTC)
    return None


def _facts(message: Hl7Message, codes: list[tuple[str, str]]) -> dict[str, FactValue]:
    header = message.header
    facts: dict[str, FactValue] = {"hl7_event": f"{header.message_type}^{header.trigger_event}"}
    pv1 = message.reader.segments("PV1")
    if pv1:
        facts["encounter_class"] = pv1[0].value(2) or None
        facts["discharged"] = bool(pv1[0].value(45)) or header.trigger_event == "A03"
    facts["behavioral_health"] = is_behavioral_health(codes)
    facts["crisis"] = is_crisis(codes)
    return facts


def _merge_from(message: Hl7Message, org_id: str) -> tuple[Identifier, ...]:
    mrg = message.reader.segments("MRG")
    return identifiers(mrg[0], 1, org_id) if mrg else ()
