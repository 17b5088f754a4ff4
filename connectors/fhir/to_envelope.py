"""FHIR R4 resources → Envelopes (DESIGN.md section 3).

Who a resource is about: a Patient is about itself; every other ingested type points at its
patient through `subject` (`patient` for Consent). The pointer is resolved here when the
Bundle holds that Patient (by fullUrl or `Patient/<id>`); otherwise the envelope carries the
sender's logical id or the reference's identifier, and the person index resolves it.

Invariants:
- The stored payload is the entry's resource as JSON (the sender's keys and values, compact).
- Labels come from `meta.security`; classes from codes, labels and the source org (classify).
- Facts are coded and small: statuses, class codes, police-flag codes, period ends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

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
from connectors.errors import Issue
from connectors.fhir.parse import ParsedBundle
from policies.vocabulary import FLAG_CODE_SYSTEM, FlagCode

KINDS = {
    "Patient": RecordKind.PATIENT,
    "Encounter": RecordKind.ENCOUNTER,
    "Condition": RecordKind.CONDITION,
    "Observation": RecordKind.OBSERVATION,
    "Flag": RecordKind.FLAG,
    "CarePlan": RecordKind.CRISIS_PLAN,
    "CareTeam": RecordKind.CARE_TEAM,
    "DocumentReference": RecordKind.DOCUMENT,
    "Consent": RecordKind.CONSENT,
}
_SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
_PATIENT_REF = re.compile(r"^(?:.*/)?Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


@dataclass(frozen=True)
class FhirRecord:
    envelope: Envelope
    resource_type: str
    source_id: str | None  # the sender's own id for the resource, if it gave one


@dataclass(frozen=True)
class Context:
    org_id: str
    source_is_part2_program: bool
    received_at: datetime
    message_id: str | None = None


def resource_to_record(
    resource: dict[str, Any], context: Context, path: str, patients: dict[str, dict[str, Any]] | None = None
) -> FhirRecord | list[Issue]:
    """One validated resource → a record, or the issues that stop it (unresolvable subject)."""
    resource_type = str(resource["resourceType"])
    subject = _subject(resource, context.org_id, path, patients or {})
    if isinstance(subject, Issue):
        return [subject]
    payload = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
    codes = _codes(resource)
    labels = {
        str(c["code"])
        for c in _list(_dict(resource.get("meta")).get("security"))
        if isinstance(c, dict) and c.get("code")
    }
    classification = classify(
        codes=codes,
        labels=labels,
        source_is_part2_program=context.source_is_part2_program,
        document_types=_codings(resource.get("type")) if resource_type == "DocumentReference" else (),
    )
    envelope = Envelope(
        envelope_id=new_envelope_id(),
        received_at=context.received_at,
        source=SourceRef(org_id=context.org_id, system=None, format="fhir-r4", message_id=context.message_id),
        subject=subject,
        kind=KINDS[resource_type],
        occurred_at=_occurred_at(resource),
        data_classes=classification.data_classes,
        security_labels=classification.security_labels,
        facts=_facts(resource, codes),
        payload=payload,
        payload_sha256=sha256_hex(payload),
    )
    resource_id = resource.get("id")
    return FhirRecord(
        envelope=envelope,
        resource_type=resource_type,
        source_id=resource_id if isinstance(resource_id, str) else None,
    )


def bundle_to_records(bundle: ParsedBundle, context: Context) -> dict[int, FhirRecord | list[Issue]]:
    """Every entry without issues → a record or its issues, keyed by entry index."""
    patients: dict[str, dict[str, Any]] = {}
    for entry in bundle.entries:
        if entry.resource.get("resourceType") == "Patient" and entry.index not in bundle.issues_by_entry:
            if entry.full_url:
                patients[entry.full_url] = entry.resource
            if isinstance(entry.resource.get("id"), str):
                patients[f"Patient/{entry.resource['id']}"] = entry.resource
    out: dict[int, FhirRecord | list[Issue]] = {}
    for entry in bundle.entries:
        if entry.index in bundle.issues_by_entry:
            out[entry.index] = bundle.issues_by_entry[entry.index]
        else:
            out[entry.index] = resource_to_record(
                entry.resource, context, f"Bundle.entry[{entry.index}].resource", patients
            )
    return out


def patient_subject(patient: dict[str, Any], org_id: str) -> SubjectRef:
    identifiers = tuple(
        Identifier(
            system=str(i.get("system") or f"urn:consent-gateway:org:{org_id}:local"), value=str(i["value"])
        )
        for i in _list(patient.get("identifier"))
        if isinstance(i, dict) and i.get("value")
    )
    names = [n for n in _list(patient.get("name")) if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") in ("official", "usual")), names[0] if names else {})
    given = _list(name.get("given"))
    birth = patient.get("birthDate")
    patient_id = patient.get("id")
    return SubjectRef(
        identifiers=identifiers,
        demographics=Demographics(
            family=str(name["family"]) if name.get("family") else None,
            given=str(given[0]) if given else None,
            birth_date=date.fromisoformat(birth) if isinstance(birth, str) and len(birth) == 10 else None,
            sex=_SEX.get(str(patient.get("gender"))),
        ),
        source_logical_id=patient_id if isinstance(patient_id, str) else None,
    )


def _subject(
    resource: dict[str, Any], org_id: str, path: str, patients: dict[str, dict[str, Any]]
) -> SubjectRef | Issue:
    if resource["resourceType"] == "Patient":
        return patient_subject(resource, org_id)
    element = "patient" if resource["resourceType"] == "Consent" else "subject"
    pointer = resource.get(element)
    location = f"{path}.{element}"
    if not isinstance(pointer, dict):
        return Issue("error", "required", location, "the patient this resource is about is required")
    reference = pointer.get("reference")
    if isinstance(reference, str) and reference:
        if reference in patients:
            return patient_subject(patients[reference], org_id)
        match = _PATIENT_REF.match(reference)
        if match and (reference.startswith("Patient/") or f"Patient/{match.group(1)}" in patients):
            key = f"Patient/{match.group(1)}"
            return (
                patient_subject(patients[key], org_id)
                if key in patients
                else SubjectRef(source_logical_id=match.group(1))
            )
        return Issue(
            "error",
            "invalid",
            f"{location}.reference",
            "must reference a Patient in this Bundle or one this sender has pushed",
        )
    identifier = pointer.get("identifier")
    if isinstance(identifier, dict) and identifier.get("value"):
        system = identifier.get("system") or f"urn:consent-gateway:org:{org_id}:local"
        return SubjectRef(identifiers=(Identifier(system=str(system), value=str(identifier["value"])),))
    return Issue("error", "required", location, "reference or identifier of the patient is required")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _codings(concept: Any) -> list[tuple[str, str]]:
    concepts = concept if isinstance(concept, list) else [concept]
    pairs = []
    for item in concepts:
        if isinstance(item, dict) and "coding" not in item and item.get("code"):  # a bare Coding
            pairs.append((str(item.get("system", "")), str(item["code"])))
        for coding in _list(_dict(item).get("coding")):
            if isinstance(coding, dict) and coding.get("code"):
                pairs.append((str(coding.get("system", "")), str(coding["code"])))
    return pairs


def _codes(resource: dict[str, Any]) -> list[tuple[str, str]]:
    codes: list[tuple[str, str]] = []
    for element in ("code", "type", "serviceType", "class", "category", "reasonCode"):
        codes += _codings(resource.get(element))
    return codes


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _occurred_at(resource: dict[str, Any]) -> datetime | None:
    period = _dict(resource.get("period"))
    for value in (
        period.get("start"),
        resource.get("onsetDateTime"),
        resource.get("effectiveDateTime"),
        resource.get("recordedDate"),
        resource.get("issued"),
        resource.get("created"),
        resource.get("date"),
        resource.get("dateTime"),
    ):
        if when := _instant(value):
            return when
    return None


def _facts(resource: dict[str, Any], codes: list[tuple[str, str]]) -> dict[str, FactValue]:
    resource_type = resource["resourceType"]
    facts: dict[str, FactValue] = {"status": str(resource["status"]) if resource.get("status") else None}
    period_end = _dict(resource.get("period")).get("end")
    if isinstance(period_end, str):
        facts["period_end"] = period_end
    if resource_type == "Encounter":
        encounter_class = _dict(resource.get("class")).get("code")
        facts["encounter_class"] = str(encounter_class) if encounter_class else None
        facts["behavioral_health"] = is_behavioral_health(codes)
        facts["crisis"] = is_crisis(codes)
    elif resource_type == "Flag":
        flag_codes = {code for system, code in _codings(resource.get("code")) if system == FLAG_CODE_SYSTEM}
        known = sorted(flag_codes & {member.value for member in FlagCode})
        facts["flag_code"] = known[0] if known else None
    elif resource_type == "CareTeam":
        facts["has_contact"] = bool(_list(resource.get("telecom")))
    elif resource_type == "Condition":
        clinical = _codings(resource.get("clinicalStatus"))
        facts["clinical_status"] = clinical[0][1] if clinical else None
    return facts
