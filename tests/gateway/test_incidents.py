"""Police incidents end to end (SQLite and PostgreSQL): pushed as CJI under every CJIS check, and
shown to a co-responder clinician only with MFA, current CJIS personnel status and purpose COC."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.builders.hl7 import Person, adt
from tests.conftest import Installation, Server, bearer, register_sender
from tests.gateway.test_privacy import database_text

RMS_SYSTEM = "urn:consent-gateway:org:pd-springfield:rms-person"
NARRATIVE_CANARY = "Ophelia Wintergreen shouted from the porch"
ALEX = Person(mrn="MRN-77", family="Quartermaine", given="Zebulon", birth_date=date(1984, 5, 6))


def incident(incident_id: str = "2026-000123", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "incident_id": incident_id,
        "nature_code": "MENTAL",
        "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "location": {"address": "12 Elm St", "city": "Springfield", "state": "IL"},
        "involved_persons": [
            {
                "role": "subject",
                "identifiers": [{"value": "P-4411"}],
                "name": {"family": ALEX.family, "given": ALEX.given},
                "birth_date": ALEX.birth_date.isoformat(),
                "sex": ALEX.sex,
            },
            {"role": "reporting_party", "name": {"family": "Wintergreen", "given": "Ophelia"}},
        ],
        "narrative": NARRATIVE_CANARY,
    }
    document.update(changes)
    return document


def _days_ago(days: int) -> str:
    return (date.today() - timedelta(days=days)).isoformat()


@dataclass
class Agencies:
    rms: dict[str, str]  # the RMS interface account, MFA, personnel on file
    rms_no_mfa: dict[str, str]
    rms_untrained: dict[str, str]
    hospital: dict[str, str]
    clinician: dict[str, str]  # co-responder clinician with MFA and CJIS status
    clinician_no_mfa: dict[str, str]  # CJIS status on file, no MFA
    clinician_uncleared: dict[str, str]  # MFA, nothing on file


@pytest.fixture
def agencies(upgraded: Installation) -> Agencies:
    cli = upgraded.admin
    hospital = register_sender(upgraded, "st-marys")
    cli(
        "org",
        "add",
        "pd-springfield",
        "--name",
        "Springfield PD",
        "--type",
        "police",
        "--cjis-agency",
        "--agreement",
        f"data_sharing_mou:{_days_ago(300)}",
    )
    cli("client", "add", "rms", "--org", "pd-springfield", "--role", "system")
    cli(
        "personnel",
        "set",
        "rms-interface",
        "--org",
        "pd-springfield",
        "--training",
        _days_ago(30),
        "--background-check",
        _days_ago(400),
    )
    cli("personnel", "set", "rms-untrained", "--org", "pd-springfield", "--background-check", _days_ago(400))
    cli("org", "add", "co-team", "--name", "Co-responders", "--type", "co_responder_team")
    cli("client", "add", "co-team-app", "--org", "co-team", "--role", "coresponder_clinician")
    for subject in ("clin.rivera", "clin.lee"):
        cli(
            "personnel",
            "set",
            subject,
            "--org",
            "co-team",
            "--addendum-signed",
            _days_ago(60),
            "--training",
            _days_ago(30),
            "--background-check",
            _days_ago(90),
        )
    return Agencies(
        rms=bearer(upgraded, "rms", "rms-interface", "--mfa"),
        rms_no_mfa=bearer(upgraded, "rms", "rms-interface"),
        rms_untrained=bearer(upgraded, "rms", "rms-untrained", "--mfa"),
        hospital=hospital.auth,
        clinician=bearer(upgraded, "co-team-app", "clin.rivera", "--mfa"),
        clinician_no_mfa=bearer(upgraded, "co-team-app", "clin.lee"),
        clinician_uncleared=bearer(upgraded, "co-team-app", "clin.nobody", "--mfa"),
    )


def _push(server: Server, who: dict[str, str], document: Any) -> httpx.Response:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return httpx.post(
        f"{server.base_url}/police/incidents",
        content=body,
        headers={**who, "Content-Type": "application/json"},
        timeout=30,
    )


def _incident_rows(installation: Installation) -> list[Any]:
    return installation.query(
        "SELECT kind, data_classes, source_org_id FROM envelopes WHERE kind = 'incident'"
    )


def _reasons(answer: httpx.Response) -> str:
    return str(answer.json().get("reason", "")) + str(answer.json().get("detail", ""))


def test_an_rms_pushes_an_incident_as_cji_once_per_person_and_a_redelivery_is_not_stored_again(
    server: Server, upgraded: Installation, agencies: Agencies
) -> None:
    answer = _push(server, agencies.rms, incident())
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"incident_id": "2026-000123", "status": "stored", "records": 2}
    assert _incident_rows(upgraded) == [("incident", "cji", "pd-springfield")] * 2
    again = _push(server, agencies.rms, incident())
    assert again.status_code == 200
    assert again.json()["status"] == "already-received"
    assert len(_incident_rows(upgraded)) == 2
    [[receipt]] = upgraded.query(
        "SELECT response FROM ingest_receipts WHERE message_key = 'incident:2026-000123'"
    )
    access = json.loads(receipt)  # the CJIS access record: who, when, under which rules
    assert (access["client_id"], access["subject"], access["event"]) == (
        "rms",
        "rms-interface",
        "incident_push",
    )
    assert "CJIS-ACCESS" in access["reasons"]
    assert "CJIS_AUDIT_LOG" in access["obligations"]
    stored = database_text(upgraded)  # the narrative, names and address are sealed at rest
    assert b"pd-springfield" in stored
    for needle in (NARRATIVE_CANARY, "Wintergreen", ALEX.family, ALEX.given, "12 Elm St", "1984-05-06"):
        assert needle.encode() not in stored, f"{needle!r} found in the database"


@pytest.mark.parametrize(
    ("who", "code"),
    [("rms_no_mfa", "CJIS-MFA"), ("rms_untrained", "CJIS-TRAINING"), ("hospital", "PUSH-INGEST")],
)
def test_cjis_checks_and_the_agency_precondition_refuse_a_push(
    server: Server, upgraded: Installation, agencies: Agencies, who: str, code: str
) -> None:
    answer = _push(server, getattr(agencies, who), incident())
    assert answer.status_code == 403
    assert code in _reasons(answer)
    assert _incident_rows(upgraded) == []


@pytest.mark.parametrize(
    ("document", "location"),
    [
        (incident(involved_persons=[]), "involved_persons"),
        (incident(narrative="x" * 20_001), "narrative"),
        (incident(occurred_at="yesterday"), "occurred_at"),
        (incident(involved_persons=[{"role": "suspect-ish"}]), "involved_persons[0].role"),
        (b"\x00\xffnot json", "body"),
    ],
)
def test_bad_incidents_are_refused_naming_the_element_and_nothing_is_stored(
    server: Server, upgraded: Installation, agencies: Agencies, document: Any, location: str
) -> None:
    answer = _push(server, agencies.rms, document)
    assert answer.status_code == 400
    body = answer.json()
    locations = [issue["location"] for issue in body.get("issues", [])] or [body["detail"].split(":")[0]]
    assert location in locations
    assert "Wintergreen" not in answer.text
    assert "Wintergreen" not in server.log()
    assert _incident_rows(upgraded) == []


def test_the_incident_schema_is_served(server: Server) -> None:
    schema = httpx.get(f"{server.base_url}/police/incidents/schema").json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"incident_id", "nature_code", "occurred_at", "involved_persons"} <= set(schema["required"])
    assert schema["properties"]["narrative"]["anyOf"][0]["maxLength"] == 20_000


def _summary(server: Server, who: dict[str, str], purpose: str = "COC") -> httpx.Response:
    return httpx.get(
        f"{server.base_url}/fhir/r4/Patient/$summary?identifier={RMS_SYSTEM}|P-4411",
        headers={**who, "X-Purpose-Of-Use": purpose},
        timeout=30,
    )


def _basics(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Basic"]


def test_a_clinician_sees_incidents_only_with_mfa_cjis_status_and_purpose_coc(
    server: Server, upgraded: Installation, agencies: Agencies
) -> None:
    assert _push(server, agencies.rms, incident()).status_code == 201
    recent = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y%m%d%H%M%S")
    pushed = httpx.post(
        f"{server.base_url}/hl7v2",
        content=adt(ALEX, at=recent).encode(),
        headers={**agencies.hospital, "Content-Type": "x-application/hl7-v2+er7"},
    )
    assert "MSA|AA|" in pushed.text  # linked to the incident's subject by name and birth date

    cleared = _summary(server, agencies.clinician)
    assert cleared.status_code == 200, cleared.text
    [shown] = _basics(cleared.json())
    assert {"url": "urn:consent-gateway:ext:incident-nature", "valueCode": "MENTAL"} in shown["extension"]
    assert {"url": "urn:consent-gateway:ext:incident-role", "valueCode": "subject"} in shown["extension"]
    assert "Wintergreen" not in cleared.text  # never the narrative or the other people involved
    assert "Elm St" not in cleared.text
    [row] = upgraded.query("SELECT legal_basis, obligations, record_kinds FROM disclosures")
    assert "CJIS-ACCESS" in row[0]
    assert "CJIS_AUDIT_LOG" in row[1]
    assert row[2] == "encounter:1,incident:1"

    for who, purpose in (
        (agencies.clinician_no_mfa, "COC"),
        (agencies.clinician_uncleared, "COC"),
        (agencies.clinician, "TREAT"),  # CJI is released only for COC or LAW
    ):
        answer = _summary(server, who, purpose)
        assert answer.status_code == 200, answer.text
        assert _basics(answer.json()) == []
        assert [e["resource"]["resourceType"] for e in answer.json()["entry"]] == ["Encounter"]
