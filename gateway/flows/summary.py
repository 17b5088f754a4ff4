"""The co-responder summary of a person: which records it holds, and how they look as FHIR.

Minimum necessary by construction (45 CFR 164.514(d)): a clinician answering a crisis call
needs the crisis plan, the care team, active flags and the recent encounters, not the chart.
Redaction happens on whole records (a record carrying a withheld class is left out entirely),
before anything is serialised. Pure: records in, FHIR JSON out.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connectors.envelope import RecordKind
from gateway.fhir_json import with_entries
from policies.vocabulary import DataClass

SUMMARY_KINDS = (
    RecordKind.CRISIS_PLAN,
    RecordKind.CARE_TEAM,
    RecordKind.FLAG,
    RecordKind.ENCOUNTER,
    RecordKind.INCIDENT,
)
RECENT = timedelta(days=90)  # encounters and police incidents older than this are not "recent"
_DATED_KINDS = (RecordKind.ENCOUNTER, RecordKind.INCIDENT)

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
FHIR_FORMAT = "fhir-r4"  # SourceRef.format of records pushed as FHIR
INCIDENT_FORMAT = "police-incident"
RECORD_KIND_SYSTEM = "urn:consent-gateway:record-kind"
EXT_INCIDENT_NATURE = "urn:consent-gateway:ext:incident-nature"
EXT_INCIDENT_ROLE = "urn:consent-gateway:ext:incident-role"
HL7_TABLE_0004 = "http://terminology.hl7.org/CodeSystem/v2-0004"
_CONFIDENTIALITY_CODES = frozenset({"U", "L", "M", "N", "R", "V"})

# 42 CFR 2.32(a)(2) ("Statement 2"), one of the two statements the rule allows.
P2_NOTICE = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
P2_NOTICE_TITLE = "42 CFR 2.32 notice to accompany disclosure"


@dataclass(frozen=True)
class StoredRecord:
    """A stored envelope, opened: what the summary selects from and renders."""

    envelope_id: str
    kind: str
    source_org_id: str
    source_format: str
    received_at: datetime
    occurred_at: datetime | None
    data_classes: frozenset[str]
    security_labels: frozenset[str]
    payload: bytes = field(repr=False)
    facts: dict[str, Any] = field(repr=False, default_factory=dict)


def select_summary(records: Iterable[StoredRecord], now: datetime) -> list[StoredRecord]:
    """The records a co-responder summary holds: crisis plans, care teams, active flags, and
    encounters and police incidents of the last 90 days; nothing entered in error."""
    chosen: list[StoredRecord] = []
    for record in records:
        status = record.facts.get("status")
        if status == "entered-in-error":
            continue
        if record.kind == RecordKind.FLAG and status not in (None, "active"):
            continue
        if record.kind in _DATED_KINDS:
            when = record.occurred_at or record.received_at
            if when < now - RECENT:
                continue
        if record.kind in SUMMARY_KINDS:
            chosen.append(record)
    return chosen


def classes_of(records: Iterable[StoredRecord]) -> frozenset[str]:
    return frozenset(data_class for record in records for data_class in record.data_classes)


def kinds_count(records: Sequence[StoredRecord]) -> str:
    """'kind:count' pairs, sorted: what an accounting describes as disclosed."""
    counts = Counter(record.kind for record in records)
    return ",".join(f"{kind}:{counts[kind]}" for kind in sorted(counts))


def security_coding(label: str) -> dict[str, str]:
    """Confidentiality codes (R, V, …) are v3-Confidentiality; the sensitivity (PSY, SUD, ETH,
    PSYTHPN), privacy-law (42CFRPart2) and obligation (NORDSCLCD) codes are v3-ActCode."""
    if label in _CONFIDENTIALITY_CODES:
        return {"system": CONFIDENTIALITY, "code": label}
    return {"system": ACT_CODE, "code": label}


def _meta(record: StoredRecord) -> dict[str, Any]:
    return {
        "source": f"urn:consent-gateway:org:{record.source_org_id}",
        "security": [security_coding(label) for label in sorted(record.security_labels)],
    }


def render(record: StoredRecord) -> dict[str, Any]:
    """The record as a FHIR R4 resource whose id is the envelope id.

    FHIR records are served as the sender wrote them (with the gateway's labels); an HL7 v2
    encounter becomes an Encounter built from its few stored facts, never the raw message; a
    police incident becomes a `Basic` with its nature code, time and the person's role only —
    never the narrative, the place or the other people involved.
    """
    if record.source_format == INCIDENT_FORMAT:
        return _incident(record)
    if record.source_format == FHIR_FORMAT:
        resource: dict[str, Any] = json.loads(record.payload)
        resource["id"] = record.envelope_id
        resource["meta"] = _meta(record)
        return resource
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": record.envelope_id,
        "meta": _meta(record),
        "status": "finished" if record.facts.get("discharged") else "in-progress",
        "class": {"system": HL7_TABLE_0004, "code": str(record.facts.get("encounter_class") or "U")},
    }
    if record.occurred_at is not None:
        encounter["period"] = {"start": record.occurred_at.isoformat()}
    return encounter


def _incident(record: StoredRecord) -> dict[str, Any]:
    incident: dict[str, Any] = {
        "resourceType": "Basic",
        "id": record.envelope_id,
        "meta": _meta(record),
        "code": {"coding": [{"system": RECORD_KIND_SYSTEM, "code": "incident"}], "text": "Police incident"},
        "extension": [
            {"url": EXT_INCIDENT_NATURE, "valueCode": str(record.facts.get("nature_code"))},
            {"url": EXT_INCIDENT_ROLE, "valueCode": str(record.facts.get("role"))},
        ],
    }
    if record.occurred_at is not None:
        incident["created"] = record.occurred_at.date().isoformat()
        incident["extension"].append(
            {"url": "urn:consent-gateway:ext:incident-time", "valueDateTime": record.occurred_at.isoformat()}
        )
    return incident


def p2_notice(notice_id: str) -> dict[str, Any]:
    """A DocumentReference carrying the 2.32 notice, for a receiving system to show."""
    return {
        "resourceType": "DocumentReference",
        "id": notice_id,
        "meta": {"security": [security_coding("42CFRPart2"), security_coding("NORDSCLCD")]},
        "status": "current",
        "description": P2_NOTICE,
        "type": {"text": P2_NOTICE_TITLE},
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "title": P2_NOTICE_TITLE,
                    "data": base64.b64encode(P2_NOTICE.encode()).decode(),
                }
            }
        ],
    }


def summary_bundle(
    records: Sequence[StoredRecord], *, bundle_id: str, base_url: str, notice: bool
) -> dict[str, Any]:
    """A searchset Bundle of the records; with the 2.32 notice when Part 2 data is in it."""
    entries = [
        {"fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}", "resource": resource}
        for resource in (render(record) for record in records)
    ]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "id": bundle_id, "type": "searchset"}
    if notice:
        attach_p2_notice(bundle, entries, base_url)
    bundle["total"] = len(records)
    return with_entries(bundle, entries)


def attach_p2_notice(bundle: dict[str, Any], entries: list[dict[str, Any]], base_url: str) -> None:
    """Label the Bundle 42CFRPart2/NORDSCLCD and include the notice as a DocumentReference."""
    bundle["meta"] = {"security": [security_coding("42CFRPart2"), security_coding("NORDSCLCD")]}
    document = p2_notice(f"p2-notice-{bundle['id']}")
    entries.append(
        {
            "fullUrl": f"{base_url}/DocumentReference/{document['id']}",
            "resource": document,
            "search": {"mode": "include"},
        }
    )


def discloses_part2(records: Iterable[StoredRecord]) -> bool:
    return any(DataClass.PART2.value in record.data_classes for record in records)
