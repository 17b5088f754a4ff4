"""Data classes of a record (DESIGN.md section 5): pure rules over codes, labels and the source.

Invariants:
- Every health record is `phi`; nothing is ever classified *down*: the stricter reading wins.
- A record from a registered Part 2 program is `part2` whatever it says (42 CFR 2.11, 2.12(a)).
- Mental health: label PSY/MH, ICD-10-CM F01-F99 (F10-F19 from a Part 2 program count as
  part2 instead), or a behavioural-health encounter/service code.
- Psychotherapy notes: label PSYTHPN, or a document typed as one (45 CFR 164.501).
- Labels are returned with the classes, derived ones added (TAG_SECURITY_LABELS).

Example:
    >>> sorted(classify(codes=[("http://hl7.org/fhir/sid/icd-10-cm", "F32.1")], labels=set()).data_classes)
    ['mental_health', 'phi']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from policies.vocabulary import DataClass

ICD10_SYSTEMS = frozenset(
    {
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://hl7.org/fhir/sid/icd-10",
        "I10",
        "I10C",
        "ICD10",
        "ICD-10",
        "ICD10CM",
        "ICD-10-CM",
        "2.16.840.1.113883.6.90",
    }
)
_ICD10_F = re.compile(r"^F(\d{2})")

MENTAL_HEALTH_LABELS = frozenset({"PSY", "MH"})
PSYCHOTHERAPY_LABELS = frozenset({"PSYTHPN"})
PART2_LABELS = frozenset({"42CFRPart2", "ETH", "SUD"})

# Codes that mark a behavioural-health encounter or service (FHIR Encounter.type/serviceType,
# HL7 v2 PV1-10 hospital service / PV1-18 patient type). Extend per deployment.
BEHAVIORAL_HEALTH_CODES = frozenset(
    {
        ("http://snomed.info/sct", "394587001"),  # Psychiatry (qualifier value)
        ("http://snomed.info/sct", "722162001"),  # Psychology (qualifier value)
        ("http://terminology.hl7.org/CodeSystem/service-type", "67"),  # Crisis Assessment
        ("http://terminology.hl7.org/CodeSystem/service-type", "68"),  # Mental Health
        ("http://terminology.hl7.org/CodeSystem/service-type", "488"),  # Crisis support
        ("HL70069", "PSY"),  # PV1-10 hospital service: psychiatric
        ("HL70069", "BEH"),
        ("HL70069", "CRS"),  # local: crisis services
    }
)
CRISIS_CODES = frozenset(
    {
        ("http://terminology.hl7.org/CodeSystem/service-type", "67"),
        ("http://terminology.hl7.org/CodeSystem/service-type", "488"),
        ("HL70069", "CRS"),
    }
)
# Document types that are psychotherapy notes (LOINC 34748-4 is not used: it is generic).
PSYCHOTHERAPY_NOTE_TYPES = frozenset({("urn:consent-gateway:doc-type", "psychotherapy-note")})


@dataclass(frozen=True)
class Classification:
    data_classes: frozenset[DataClass]
    security_labels: frozenset[str]


def is_mental_health_diagnosis(system: str, code: str, *, from_part2_program: bool) -> bool:
    if system not in ICD10_SYSTEMS:
        return False
    match = _ICD10_F.match(code.strip().upper())
    if not match:
        return False
    chapter = int(match.group(1))
    if 10 <= chapter <= 19 and from_part2_program:
        return False  # SUD diagnoses from a Part 2 program are part2, not merely mental health
    return 1 <= chapter <= 99


def classify(
    *,
    codes: Iterable[tuple[str, str]],
    labels: set[str],
    source_is_part2_program: bool = False,
    document_types: Iterable[tuple[str, str]] = (),
    cji: bool = False,
) -> Classification:
    """Assign data classes and the security labels that say so."""
    code_list = [(system, code) for system, code in codes if system and code]
    classes: set[DataClass] = {DataClass.CJI} if cji else {DataClass.PHI}
    derived = set(labels)
    if cji:
        return Classification(frozenset(classes), frozenset(derived))
    if (
        labels & MENTAL_HEALTH_LABELS
        or any(
            is_mental_health_diagnosis(s, c, from_part2_program=source_is_part2_program) for s, c in code_list
        )
        or any(pair in BEHAVIORAL_HEALTH_CODES for pair in code_list)
    ):
        classes.add(DataClass.MENTAL_HEALTH)
        derived.add("PSY")
    if labels & PSYCHOTHERAPY_LABELS or any(pair in PSYCHOTHERAPY_NOTE_TYPES for pair in document_types):
        classes.add(DataClass.PSYCHOTHERAPY_NOTES)
        derived.add("PSYTHPN")
    if source_is_part2_program or labels & PART2_LABELS:
        classes.add(DataClass.PART2)
        derived.update({"42CFRPart2", "R"})
    return Classification(frozenset(classes), frozenset(derived))


def is_crisis(codes: Iterable[tuple[str, str]]) -> bool:
    return any(pair in CRISIS_CODES for pair in codes)


def is_behavioral_health(codes: Iterable[tuple[str, str]]) -> bool:
    return any(pair in BEHAVIORAL_HEALTH_CODES for pair in codes)
