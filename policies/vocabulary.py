"""The shared words of Consent Gateway (DESIGN.md sections 3, 5, 6, 7, 8).

Every package may import this module; it imports only the standard library, so
connectors and the consent ledger can speak the policy engine's language without
pulling in the engine.

Invariants:
- Each enum's values are the exact strings of the decision contract (DESIGN.md 7);
  they appear on the wire, in Rego and in the audit log, so they never change.
"""

from __future__ import annotations

from enum import StrEnum


class OrgType(StrEnum):
    """What kind of organisation a participant is; rules key off it (regulations.md 0)."""

    HOSPITAL = "hospital"
    CLINIC = "clinic"
    PART2_PROGRAM = "part2_program"
    POLICE = "police"
    EMS = "ems"
    CO_RESPONDER_TEAM = "co_responder_team"
    COMPLIANCE = "compliance"


class Role(StrEnum):
    """The role of an API client within its organisation."""

    CLINICIAN = "clinician"
    OFFICER = "officer"
    DISPATCHER = "dispatcher"
    CORESPONDER_CLINICIAN = "coresponder_clinician"
    COMPLIANCE_OFFICER = "compliance_officer"
    ADMIN = "admin"
    SYSTEM = "system"


class AgreementKind(StrEnum):
    """Agreements an organisation holds with the program (DESIGN.md 8)."""

    BAA = "baa"  # HIPAA business associate agreement, 45 CFR 164.504(e)
    QSOA = "qsoa"  # Part 2 qualified service organization agreement, 42 CFR 2.11
    CJIS_SECURITY_ADDENDUM = "cjis_security_addendum"  # CJIS Security Policy 5.1.1.5
    DATA_SHARING_MOU = "data_sharing_mou"


class Action(StrEnum):
    """What a request asks the gateway to do (DESIGN.md 7)."""

    PUSH_RECORD = "push_record"
    PULL_FLAGS = "pull_flags"
    LOOKUP_RECORD = "lookup_record"
    QUERY_AUDIT = "query_audit"
    MANAGE_CONSENT = "manage_consent"


class PurposeOfUse(StrEnum):
    """HL7 v3 PurposeOfUse codes the rules recognise (regulations.md 0.2)."""

    TREAT = "TREAT"
    ETREAT = "ETREAT"
    HPAYMT = "HPAYMT"
    HOPERAT = "HOPERAT"
    COC = "COC"
    LAW = "LAW"
    PUBHLTH = "PUBHLTH"
    HOVERSIGHT = "HOVERSIGHT"
    PATRQT = "PATRQT"


class DataClass(StrEnum):
    """Classes of data a record carries (DESIGN.md 5)."""

    PHI = "phi"
    MENTAL_HEALTH = "mental_health"
    PSYCHOTHERAPY_NOTES = "psychotherapy_notes"
    PART2 = "part2"
    CJI = "cji"


class FlagCode(StrEnum):
    """The only flags police may see (DESIGN.md 6); system urn:consent-gateway:police-flag."""

    CORESPONDER_RECOMMENDED = "coresponder-recommended"
    CRISIS_PLAN_ON_FILE = "crisis-plan-on-file"
    CARE_TEAM_CONTACT = "care-team-contact"
    COMMUNICATION_NEEDS = "communication-needs"
    RECENT_CRISIS_CONTACT = "recent-crisis-contact"
    MEDICAL_ALERT_CONTACT_EMS = "medical-alert-contact-ems"
    CHECK_WITH_CLINICIAN = "check-with-clinician"
    PREFERS_CONTACT_PERSON = "prefers-contact-person"


FLAG_CODE_SYSTEM = "urn:consent-gateway:police-flag"

# What each flag says to an officer (DESIGN.md 6): operational instructions, never a clinical fact.
FLAG_DISPLAY: dict[FlagCode, str] = {
    FlagCode.CORESPONDER_RECOMMENDED: "Request a co-responder clinician if available.",
    FlagCode.CRISIS_PLAN_ON_FILE: "A crisis plan exists; contact the co-responder team.",
    FlagCode.CARE_TEAM_CONTACT: "Care team contact available.",
    FlagCode.COMMUNICATION_NEEDS: "May need communication support.",
    FlagCode.RECENT_CRISIS_CONTACT: "Recent crisis-team contact.",
    FlagCode.MEDICAL_ALERT_CONTACT_EMS: "Medical alert: involve EMS.",
    FlagCode.CHECK_WITH_CLINICIAN: "Check with the on-call co-responder clinician before contact.",
    FlagCode.PREFERS_CONTACT_PERSON: "Preferred contact person on file.",
}


class Obligation(StrEnum):
    """What a decision obliges the gateway to do (regulations.md 0); the gateway enforces each."""

    ATTACH_P2_NOTICE = "ATTACH_P2_NOTICE"
    CJIS_AUDIT_LOG = "CJIS_AUDIT_LOG"
    DOCUMENT_P2_EMERGENCY = "DOCUMENT_P2_EMERGENCY"
    LIMIT_TO_ORDER_SCOPE = "LIMIT_TO_ORDER_SCOPE"
    MINIMUM_NECESSARY = "MINIMUM_NECESSARY"
    MINIMUM_NECESSARY_FLAGS_ONLY = "MINIMUM_NECESSARY_FLAGS_ONLY"
    NOTIFY_PRIVACY_OFFICER = "NOTIFY_PRIVACY_OFFICER"
    RECORD_ACCOUNTING = "RECORD_ACCOUNTING"
    RECORD_BREAK_GLASS = "RECORD_BREAK_GLASS"
    REDACT_MENTAL_HEALTH = "REDACT_MENTAL_HEALTH"
    REDACT_PART2 = "REDACT_PART2"
    REDACT_PHI = "REDACT_PHI"
    REDACT_PSYNOTES = "REDACT_PSYNOTES"
    TAG_SECURITY_LABELS = "TAG_SECURITY_LABELS"


__all__ = [
    "FLAG_CODE_SYSTEM",
    "FLAG_DISPLAY",
    "Action",
    "AgreementKind",
    "DataClass",
    "FlagCode",
    "Obligation",
    "OrgType",
    "PurposeOfUse",
    "Role",
]
