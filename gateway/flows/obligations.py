"""Obligations: what each channel can fulfil, and the redaction they ask for (regulations.md 0, 6).

A permit is only as good as the gateway's ability to do what it obliges (regulations.md 6(7)):
a channel that cannot fulfil one of a decision's obligations turns the permit into a deny.
Overlays may add obligations the gateway has never heard of; those are unfulfillable
everywhere, so a county's stricter rule can only ever make the gateway say less.

Pure: no SQL, no HTTP. The flows call `require_fulfillable` right after the engine permits,
and apply `withheld_classes` before anything is serialised.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from policies.catalog import Reason
from policies.decision import Decision
from policies.vocabulary import DataClass, Obligation

REDACTS: dict[Obligation, DataClass] = {
    Obligation.REDACT_PHI: DataClass.PHI,
    Obligation.REDACT_MENTAL_HEALTH: DataClass.MENTAL_HEALTH,
    Obligation.REDACT_PSYNOTES: DataClass.PSYCHOTHERAPY_NOTES,
    Obligation.REDACT_PART2: DataClass.PART2,
}


class Channel(StrEnum):
    """A way the gateway answers a request; each fulfils a fixed set of obligations."""

    PUSH = "push"  # ingest of records (HL7 v2, FHIR)
    INCIDENT_PUSH = "incident_push"  # police incidents (CJI)
    CONSENT = "consent"  # consent capture, revocation and reads
    RECORD_LOOKUP = "record_lookup"  # a clinician's summary of a person
    AUDIT_QUERY = "audit_query"  # a compliance officer's read of the audit log
    FLAG_PULL = "flag_pull"  # police (or EMS, clinicians) pulling permitted flags


FULFILS: dict[Channel, frozenset[Obligation]] = {
    # Ingest labels every stored record with its classes' security labels.
    Channel.PUSH: frozenset({Obligation.TAG_SECURITY_LABELS}),
    # An incident's receipt names who pushed it, when, under which rules: the CJIS access
    # record (5.4) until the audit log (DESIGN.md 10) records every decision.
    Channel.INCIDENT_PUSH: frozenset({Obligation.TAG_SECURITY_LABELS, Obligation.CJIS_AUDIT_LOG}),
    Channel.CONSENT: frozenset(),
    # Every read of the log is itself an audit record (access.audit-read), written first.
    Channel.AUDIT_QUERY: frozenset({Obligation.CJIS_AUDIT_LOG}),
    # A pull answers with flags of the closed vocabulary only (minimum necessary), drops every
    # flag resting on a withheld class, attaches the 2.32 notice, and its audit record is the
    # accounting entry (accounting is rendered from the log).
    Channel.FLAG_PULL: frozenset(
        {
            *REDACTS,
            Obligation.MINIMUM_NECESSARY_FLAGS_ONLY,
            Obligation.MINIMUM_NECESSARY,
            Obligation.ATTACH_P2_NOTICE,
            Obligation.RECORD_ACCOUNTING,
        }
    ),
    # The lookup redacts whole records by class, limits itself to the co-responder summary
    # (minimum necessary), attaches the 2.32 notice, and writes a disclosure record that is the
    # accounting entry, the CJIS access record and the 2.51(c) emergency documentation; a
    # break-glass or legal-process decision also queues a privacy-officer review.
    Channel.RECORD_LOOKUP: frozenset(
        {
            *REDACTS,
            Obligation.MINIMUM_NECESSARY,
            Obligation.ATTACH_P2_NOTICE,
            Obligation.RECORD_ACCOUNTING,
            Obligation.CJIS_AUDIT_LOG,
            Obligation.DOCUMENT_P2_EMERGENCY,
            Obligation.RECORD_BREAK_GLASS,
            Obligation.NOTIFY_PRIVACY_OFFICER,
        }
    ),
}

UNFULFILLABLE = Reason(
    code="DEFAULT-DENY",
    citation="45 CFR 164.502(a); regulations.md 6(7)",
    text="The decision obliges something this request's channel cannot do, so it is denied.",
)


def unfulfilled(obligations: Iterable[str], channel: Channel) -> tuple[str, ...]:
    """The obligations (known or not) that `channel` cannot fulfil, sorted."""
    able = {obligation.value for obligation in FULFILS[channel]}
    return tuple(sorted(set(obligations) - able))


def require_fulfillable(decision: Decision, channel: Channel) -> Decision:
    """The decision itself, or a deny naming what the channel cannot fulfil.

    A deny's obligations (e.g. NOTIFY_PRIVACY_OFFICER) are not checked here: the caller
    fulfils those it can whether or not anything else is disclosed.
    """
    missing = unfulfilled(decision.obligations, channel) if decision.permitted else ()
    if not missing:
        return decision
    return Decision(
        decision="deny",
        obligations=decision.obligations,
        reasons=(UNFULFILLABLE, *decision.reasons),
        policy_version=decision.policy_version,
        unfulfilled=missing,
    )


def withheld_classes(obligations: Iterable[str]) -> frozenset[DataClass]:
    """The data classes a decision's REDACT_* obligations remove from the response."""
    named = set(obligations)
    return frozenset(data_class for obligation, data_class in REDACTS.items() if obligation.value in named)
