"""A co-responder clinician's `$summary` through a real server (SQLite and PostgreSQL): decided
by the engine, redacted by its obligations, with the 2.32 notice, a disclosure record written
before the answer, and privacy-officer reviews for break-glass."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builders.consent import consent, recipient_class
from tests.builders.hl7 import Person, adt
from tests.conftest import (
    Hospital,
    Installation,
    Server,
    add_client,
    register_sender,
    start_server,
    stop_server,
)

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"
ALEX = Person(mrn="MRN-77", family="Quartermaine", given="Zebulon", birth_date=date(1984, 5, 6))
BREAK_GLASS_CANARY = "Zebulon unconscious in bay 4"


@dataclass
class Program:
    hospital: Hospital
    clinic: Hospital  # a Part 2 program
    clinician: dict[str, str]  # auth headers: a co-responder clinician with MFA
    clinician_no_mfa: dict[str, str]
    officer: dict[str, str]


def _fhir(server: Server, who: dict[str, str], path: str, document: Any) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/fhir/r4{path}",
        content=json.dumps(document).encode(),
        headers={**who, "Content-Type": "application/fhir+json"},
        timeout=30,
    )


def _care_plan(plan_id: str) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": plan_id,
        "status": "active",
        "intent": "plan",
        "title": "Crisis plan",
        "subject": {"identifier": {"system": MRN_SYSTEM, "value": ALEX.mrn}},
        "period": {"start": "2026-10-01"},
    }


@pytest.fixture
def program(upgraded: Installation) -> Program:
    hospital = register_sender(upgraded, "st-marys")
    clinic = register_sender(
        upgraded,
        "crisis-clinic",
        org_type="part2_program",
        part2_program=True,
        agreements=("baa:2026-01-01", "qsoa:2026-01-01"),
    )
    upgraded.admin("org", "add", "co-team", "--name", "Co-responders", "--type", "co_responder_team")
    upgraded.admin(
        "org", "add", "pd-springfield", "--name", "Springfield PD", "--type", "police", "--cjis-agency"
    )
    return Program(
        hospital=hospital,
        clinic=clinic,
        clinician=add_client(
            upgraded, "co-team", "co-team-app", "coresponder_clinician", "clin.rivera", "--mfa"
        ),
        clinician_no_mfa=add_client(
            upgraded, "co-team", "co-team-kiosk", "coresponder_clinician", "clin.lee"
        ),
        officer=add_client(upgraded, "pd-springfield", "rms", "officer", "officer.jones", "--mfa"),
    )


def _push_records(server: Server, program: Program) -> None:
    """An ED visit (mental health) from the hospital; a crisis plan from the Part 2 program."""
    recent = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y%m%d%H%M%S")
    answer = httpx.post(
        f"{server.base_url}/hl7v2",
        content=adt(ALEX, at=recent).encode(),
        headers={**program.hospital.auth, "Content-Type": "x-application/hl7-v2+er7"},
        timeout=30,
    )
    assert "MSA|AA|" in answer.text, answer.text
    assert _fhir(server, program.clinic.auth, "/CarePlan", _care_plan("plan-1")).status_code == 201


def _summary(
    server: Server, who: dict[str, str], person: str | None = None, **headers: str
) -> httpx.Response:
    if person is None:
        url = f"{server.base_url}/fhir/r4/Patient/$summary?identifier={MRN_SYSTEM}|{ALEX.mrn}"
    else:
        url = f"{server.base_url}/fhir/r4/Patient/{person}/$summary"
    return httpx.get(url, headers={**who, **headers}, timeout=30)


def _kinds(bundle: dict[str, Any]) -> list[str]:
    """The resource types in a searchset (an empty one has no `entry` at all)."""
    assert bundle.get("entry") != []  # FHIR JSON has no empty arrays
    return sorted(entry["resource"]["resourceType"] for entry in bundle.get("entry", []))


def _disclosures(installation: Installation) -> list[Any]:
    return installation.query(
        "SELECT recipient_org_id, recipient_subject, purpose_of_use, data_classes, record_kinds, "
        "accountable, break_glass, legal_basis, obligations FROM disclosures ORDER BY id"
    )


def _notice(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        entry["resource"]
        for entry in bundle.get("entry", [])
        if entry["resource"]["resourceType"] == "DocumentReference"
        and entry["resource"]["id"].startswith("p2-notice-")
    ]


def test_part2_records_are_withheld_without_consent_and_shown_with_the_notice_under_one(
    server: Server, upgraded: Installation, program: Program
) -> None:
    _push_records(server, program)

    without = _summary(server, program.clinician)
    assert without.status_code == 200, without.text
    bundle = without.json()
    assert bundle["type"] == "searchset"
    assert _kinds(bundle) == ["Encounter"]  # the Part 2 crisis plan is redacted (REDACT_PART2)
    encounter = bundle["entry"][0]["resource"]
    assert {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "PSY",
    } in encounter["meta"]["security"]
    assert "Quartermaine" not in without.text  # the summary carries no demographics
    assert _notice(bundle) == []
    assert "meta" not in bundle
    [first] = _disclosures(upgraded)
    assert first[:5] == ("co-team", "clin.rivera", "TREAT", "mental_health,phi", "encounter:1")
    assert not first[5]  # treatment disclosures are not accountable (164.528(a)(1)(i))
    assert "REDACT_PART2" in first[8]
    assert "HIPAA-TPO" in first[7]

    recorded = _fhir(
        server,
        program.clinic.auth,
        "/Consent",
        consent(
            {"identifier": {"system": MRN_SYSTEM, "value": ALEX.mrn}, "display": "Synthetic Person"},
            classes=("part2",),
            purposes=("TREAT",),
            recipients=[recipient_class("co_responder_team")],
            part2_label=True,
        ),
    )
    assert recorded.status_code == 201, recorded.text

    with_consent = _summary(server, program.clinician).json()
    assert _kinds(with_consent) == ["CarePlan", "DocumentReference", "Encounter"]
    [notice] = _notice(with_consent)
    assert notice["description"] == "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
    assert {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "42CFRPart2",
    } in with_consent["meta"]["security"]
    plan = next(e["resource"] for e in with_consent["entry"] if e["resource"]["resourceType"] == "CarePlan")
    assert plan["title"] == "Crisis plan"
    assert plan["meta"]["source"] == "urn:consent-gateway:org:crisis-clinic"
    second = _disclosures(upgraded)[1]
    assert second[3] == "mental_health,part2,phi"
    assert second[5]  # consent-based Part 2: accountable
    assert "P2-CONSENT-231" in second[7]
    assert "ATTACH_P2_NOTICE" in second[8]

    consent_id = recorded.json()["id"]
    revoked = _fhir(
        server,
        program.clinic.auth,
        f"/Consent/{consent_id}/$revoke",
        {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueCode": "patient-request"}]},
    )
    assert revoked.status_code == 200, revoked.text
    assert _kinds(_summary(server, program.clinician).json()) == ["Encounter"]


def test_police_may_not_look_up_records(server: Server, upgraded: Installation, program: Program) -> None:
    _push_records(server, program)
    answer = _summary(server, program.officer)
    assert answer.status_code == 403
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any("GW-LE-FLAGS-ONLY" in issue["diagnostics"] for issue in outcome["issue"])
    assert "Encounter" not in answer.text
    assert "CarePlan" not in answer.text
    assert _disclosures(upgraded) == []


def test_break_glass_discloses_part2_for_the_emergency_and_queues_a_review(
    server: Server, upgraded: Installation, program: Program
) -> None:
    _push_records(server, program)
    answer = _summary(server, program.clinician, **{"X-Break-Glass": BREAK_GLASS_CANARY})
    assert answer.status_code == 200, answer.text
    assert _kinds(answer.json()) == ["CarePlan", "Encounter"]  # 2.51: no notice, not consent-based
    [row] = _disclosures(upgraded)
    assert row[2] == "ETREAT"
    assert row[6]
    assert "P2-EMERGENCY-251" in row[7]
    assert "RECORD_BREAK_GLASS" in row[8]
    [review] = upgraded.query(
        "SELECT obligation, decision, requester_subject, statement_sealed FROM privacy_reviews"
    )
    assert review[:3] == ("RECORD_BREAK_GLASS", "permit", "clin.rivera")
    assert BREAK_GLASS_CANARY.encode() not in bytes(review[3])
    assert BREAK_GLASS_CANARY not in server.log()
    assert "Zebulon" not in server.log()


def test_break_glass_without_mfa_is_denied(server: Server, upgraded: Installation, program: Program) -> None:
    _push_records(server, program)
    answer = _summary(server, program.clinician_no_mfa, **{"X-Break-Glass": "emergency"})
    assert answer.status_code == 403
    assert any("HIPAA-BREAK-GLASS" in issue["diagnostics"] for issue in answer.json()["issue"])
    assert _disclosures(upgraded) == []
    # Without break-glass, the same clinician gets the treatment view.
    assert _kinds(_summary(server, program.clinician_no_mfa).json()) == ["Encounter"]


def test_a_patient_is_named_by_person_id_or_identifier_and_bad_requests_are_refused(
    server: Server, upgraded: Installation, program: Program
) -> None:
    _push_records(server, program)
    person_id = upgraded.query("SELECT person_id FROM envelopes LIMIT 1")[0][0]
    assert _kinds(_summary(server, program.clinician, person_id).json()) == ["Encounter"]
    unknown = _summary(server, program.clinician, "no-such-person")
    assert unknown.status_code == 404
    assert unknown.json()["issue"][0]["code"] == "not-found"
    bad_purpose = _summary(server, program.clinician, **{"X-Purpose-Of-Use": "SNOOP"})
    assert bad_purpose.status_code == 400
    assert bad_purpose.json()["issue"][0]["expression"] == ["X-Purpose-Of-Use"]
    no_identifier = httpx.get(f"{server.base_url}/fhir/r4/Patient/$summary", headers=program.clinician)
    assert no_identifier.status_code == 400
    assert httpx.get(f"{server.base_url}/fhir/r4/Patient/x/$summary").status_code == 401


def test_an_obligation_the_lookup_cannot_fulfil_turns_the_permit_into_a_deny(
    upgraded: Installation, program: Program, tmp_path: Path
) -> None:
    overlays = tmp_path / "overlays"
    overlays.mkdir()
    (overlays / "registry.rego").write_text(
        "package consent_gateway.overlay.state_registry\n\n"
        "import rego.v1\n\n"
        'obligations contains "NOTIFY_STATE_REGISTRY" if input.action == "lookup_record"\n'
    )
    server = start_server(upgraded, CGW_POLICY_OVERLAYS=str(overlays))
    try:
        _push_records(server, program)
        answer = _summary(server, program.clinician)
        assert answer.status_code == 403
        diagnostics = [issue["diagnostics"] for issue in answer.json()["issue"]]
        assert "cannot fulfil obligation NOTIFY_STATE_REGISTRY" in diagnostics
        assert _disclosures(upgraded) == []
    finally:
        stop_server(server)
