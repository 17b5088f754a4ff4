"""Synthetic FHIR R4 Consents: complete by default, so a test removes exactly what it tests."""

from __future__ import annotations

import copy
from typing import Any

from consent_ledger.fhir import (
    ACT_CODE_SYSTEM,
    DATA_CLASS_SYSTEM,
    EXT_EXPIRY_EVENT,
    EXT_SIGNATURE,
    EXT_STATEMENT,
    ORG_TYPE_SYSTEM,
    PARTICIPATION_SYSTEM,
    PURPOSE_SYSTEM,
)

STATEMENTS = ("right-to-revoke", "redisclosure", "no-conditioning", "refusal-consequences")


def recipient_org(org_id: str) -> dict[str, Any]:
    return {
        "role": {"coding": [{"system": PARTICIPATION_SYSTEM, "code": "IRCP"}]},
        "reference": {"reference": f"Organization/{org_id}"},
    }


def recipient_class(org_type: str) -> dict[str, Any]:
    return {
        "role": {"coding": [{"system": PARTICIPATION_SYSTEM, "code": "IRCP"}]},
        "reference": {"identifier": {"system": ORG_TYPE_SYSTEM, "value": org_type}, "display": "all teams"},
    }


def consent(
    patient: dict[str, Any] | None = None,
    *,
    status: str = "active",
    classes: tuple[str, ...] = ("phi", "mental_health"),
    purposes: tuple[str, ...] = ("COC",),
    recipients: list[dict[str, Any]] | None = None,
    period: dict[str, str] | None = None,
    part2_label: bool = False,
) -> dict[str, Any]:
    """A complete consent: every 2.31(a) and 164.508(c) element present."""
    labels = [{"system": DATA_CLASS_SYSTEM, "code": c} for c in classes]
    if part2_label:
        labels.append({"system": ACT_CODE_SYSTEM, "code": "42CFRPart2"})
    return {
        "resourceType": "Consent",
        "status": status,
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": patient or {"reference": "Patient/p-1", "display": "Synthetic Person"},
        "dateTime": "2026-11-01T10:00:00Z",
        "organization": [{"reference": "Organization/crisis-clinic", "display": "Crisis clinic"}],
        "sourceAttachment": {
            "contentType": "application/pdf",
            "data": "JVBERi0xLjQK",
            "title": "signed form",
        },
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
        },
        "extension": [
            *({"url": EXT_STATEMENT, "valueCode": code} for code in STATEMENTS),
            {
                "url": EXT_SIGNATURE,
                "valueSignature": {
                    "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.7"}],
                    "when": "2026-11-01T10:00:00Z",
                    "who": {"display": "Synthetic Person"},
                },
            },
            {"url": EXT_EXPIRY_EVENT, "valueString": "end of the crisis episode"},
        ],
        "provision": {
            "type": "permit",
            "period": period or {"start": "2026-11-01", "end": "2027-10-31"},
            "actor": recipients if recipients is not None else [recipient_class("co_responder_team")],
            "purpose": [{"system": PURPOSE_SYSTEM, "code": p} for p in purposes],
            "securityLabel": labels,
            "code": [{"text": "crisis plan, care team contacts and crisis encounters"}],
        },
    }


def without(document: dict[str, Any], *paths: str) -> dict[str, Any]:
    """A copy without the elements at dotted paths; `extension=URL[=code]` removes extensions."""
    copied = copy.deepcopy(document)
    for path in paths:
        if path.startswith("extension="):
            target = path.removeprefix("extension=")
            url, _, code = target.partition("=")
            copied["extension"] = [
                e
                for e in copied["extension"]
                if not (e["url"] == url and (not code or e.get("valueCode") == code))
            ]
            continue
        node = copied
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[part]
        node.pop(leaf, None)
    return copied
