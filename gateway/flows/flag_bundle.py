"""Permitted flags as FHIR: a `searchset` Bundle of `Flag` resources (DESIGN.md 6, 11).

An answer with no flags has one shape whatever the reason — nothing on file, nothing derived,
a denial, a redaction, an unknown person — so a police system cannot tell what was withheld
(regulations.md 7). Flags say only the vocabulary's words, never the source organisation, a
diagnosis or a date finer than the week. Pure: flags in, FHIR JSON out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.fhir_json import with_entries
from gateway.flows.summary import attach_p2_notice
from policies.vocabulary import FLAG_CODE_SYSTEM, FLAG_DISPLAY, FlagCode

_FLAG_IDS = uuid.UUID("5b0f6c1e-2f7d-4c55-9a43-1d4f3b7e8a21")  # namespace of stable Flag ids


@dataclass(frozen=True)
class ShownFlag:
    code: FlagCode
    expires: datetime
    text: str  # the vocabulary's words, with a care team's name/phone where the code allows


def flag_resource(flag: ShownFlag, person_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        # Stable across pulls, so a CAD can tell a flag it has already shown from a new one.
        "id": str(uuid.uuid5(_FLAG_IDS, f"{person_id}|{flag.code.value}")),
        "status": "active",
        "code": {
            "coding": [
                {"system": FLAG_CODE_SYSTEM, "code": flag.code.value, "display": FLAG_DISPLAY[flag.code]}
            ],
            "text": flag.text,
        },
        "subject": {"reference": f"Patient/{person_id}"},
        "period": {"end": flag.expires.date().isoformat()},
    }


def flag_bundle(
    flags: Sequence[ShownFlag],
    *,
    person_id: str | None,
    base_url: str,
    notice: bool = False,
    multiple_matches: bool = False,
) -> dict[str, Any]:
    """The answer to a pull. `notice` attaches the 42 CFR 2.32 notice (Part 2-derived flags
    disclosed under consent); `multiple_matches` says the demographics named several people."""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "searchset"}
    entries: list[dict[str, Any]] = []
    if flags and person_id is not None:
        for flag in flags:
            resource = flag_resource(flag, person_id)
            entries.append(
                {
                    "fullUrl": f"{base_url}/Flag/{resource['id']}",
                    "resource": resource,
                    "search": {"mode": "match"},
                }
            )
        if notice:
            attach_p2_notice(bundle, entries, base_url)
    if multiple_matches:
        entries.append({"resource": multiple_matches_outcome(), "search": {"mode": "outcome"}})
    bundle["total"] = sum(1 for entry in entries if entry["resource"]["resourceType"] == "Flag")
    return with_entries(bundle, entries)


def multiple_matches_outcome() -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "multiple-matches",
                "diagnostics": (
                    "The name and birth date match more than one person; no flags are returned. "
                    "Search by an identifier."
                ),
            }
        ],
    }
