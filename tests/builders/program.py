"""A co-responder program over HTTP, for end-to-end tests: push records and consents, pull
flags, read the audit records of pulls. Synthetic people only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.builders.consent import consent, recipient_class
from tests.builders.hl7 import Person, adt
from tests.conftest import Hospital, Installation, Server, register_sender

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"
TEAM_NAME = "Methadone Outreach Team"  # a name that reveals the kind of care


def crisis_adt(person: Person, control_id: str, days_ago: int = 2) -> str:
    """An ADT whose PV1-10 says crisis services: a behavioural-health crisis encounter."""
    at = (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y%m%d%H%M%S")
    return adt(person, control_id=control_id, at=at).replace("|||||||PSY", "|||||||CRS")


def push_hl7(server: Server, sender: Hospital, message: str) -> None:
    answer = httpx.post(
        f"{server.base_url}/hl7v2",
        content=message.encode(),
        headers={**sender.auth, "Content-Type": "x-application/hl7-v2+er7"},
        timeout=30,
    )
    assert "MSA|AA|" in answer.text, answer.text


def push_fhir(server: Server, sender: Hospital, path: str, document: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(
        f"{server.base_url}/fhir/r4{path}",
        content=json.dumps(document).encode(),
        headers={**sender.auth, "Content-Type": "application/fhir+json"},
        timeout=30,
    )
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, Any] = answer.json()
    return body


def subject(person: Person) -> dict[str, Any]:
    return {"identifier": {"system": MRN_SYSTEM, "value": person.mrn}, "display": "Synthetic Person"}


def care_team(person: Person, name: str = TEAM_NAME) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "name": name,
        "subject": subject(person),
        "period": {"start": "2026-10-01"},
        "telecom": [{"system": "phone", "value": "555-0142"}],
    }


def crisis_plan(person: Person) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "title": "Crisis plan",
        "subject": subject(person),
        "period": {"start": "2026-10-01", "end": "2027-03-31"},
    }


def pull(server: Server, who: dict[str, str], **params: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/fhir/r4/Flag", params=params, headers=who, timeout=30)


def by_identifier(server: Server, who: dict[str, str], person: Person) -> httpx.Response:
    return pull(server, who, **{"subject:identifier": f"{MRN_SYSTEM}|{person.mrn}"})


def codes(bundle: dict[str, Any]) -> list[str]:
    return sorted(
        e["resource"]["code"]["coding"][0]["code"]
        for e in bundle.get("entry", [])
        if e["resource"]["resourceType"] == "Flag"
    )


def shape(bundle: dict[str, Any]) -> dict[str, Any]:
    """A Bundle without its random id: what must not differ between kinds of 'nothing'."""
    return {k: v for k, v in bundle.items() if k != "id"}


def police_consent(person: Person, *classes: str) -> dict[str, Any]:
    return consent(
        subject(person),
        classes=classes,
        purposes=("COC",),
        recipients=[recipient_class("police"), recipient_class("co_responder_team")],
        part2_label="part2" in classes,
    )


def pull_records(installation: Installation) -> list[dict[str, Any]]:
    """Every flag pull's audit record, in the order accepted (integrated first, then pending)."""
    pending = installation.query("SELECT record_id, leaf FROM audit_pending ORDER BY id")
    rows = installation.query("SELECT record_id, leaf FROM audit_entries ORDER BY idx")
    integrated = {row[0] for row in rows}
    rows += [row for row in pending if row[0] not in integrated]
    records = [json.loads(bytes(row[1])) for row in rows]
    return [r for r in records if r["action"] == "pull_flags"]


# Words no flag answer may contain: diagnoses, substance use, the kind of care, the program.
FORBIDDEN_WORDS = (
    "substance",
    "opioid",
    "methadone",
    "alcohol",
    "overdose",
    "diagnos",
    "psychiatr",
    "schizo",
    "bipolar",
    "crisis-clinic",
)


def revoke(server: Server, sender: Hospital, consent_id: str) -> None:
    push_fhir(
        server,
        sender,
        f"/Consent/{consent_id}/$revoke",
        {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueCode": "patient-request"}]},
    )


def register_clinic(installation: Installation) -> Hospital:
    """A Part 2 program (42 CFR 2.11) under a QSOA."""
    return register_sender(
        installation,
        "crisis-clinic",
        org_type="part2_program",
        part2_program=True,
        agreements=("qsoa:2026-01-01",),
    )


def register_police(installation: Installation, org_id: str = "pd-springfield", *agreements: str) -> None:
    """A police department; by default under the program's data-sharing MOU."""
    register_sender(
        installation, org_id, org_type="police", agreements=agreements or ("data_sharing_mou:2026-01-01",)
    )
