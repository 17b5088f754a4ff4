"""Police pull permitted flags through a real server (SQLite and PostgreSQL): matched by
identifier or demographics, derived in Rego, decided, redacted, audited — and an answer with no
flags always looks the same."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import httpx
import pytest

from tests.builders.consent import consent, recipient_class
from tests.builders.hl7 import Person
from tests.builders.program import (
    MRN_SYSTEM,
    TEAM_NAME,
    by_identifier,
    care_team,
    codes,
    crisis_adt,
    crisis_plan,
    police_consent,
    pull,
    pull_records,
    push_fhir,
    push_hl7,
    register_clinic,
    register_police,
    revoke,
    shape,
    subject,
)
from tests.conftest import Hospital, Installation, Server, add_client, register_sender

ALEX = Person(mrn="MRN-31", family="Featherstonehaugh", given="Ottoline", birth_date=date(1979, 2, 3))
# Same name and birth date, different sex: two people (the index never merges them silently).
TWIN_A = Person(mrn="MRN-41", family="Smith", given="Jordan", birth_date=date(1990, 1, 1), sex="F")
TWIN_B = Person(mrn="MRN-42", family="Smith", given="Jordan", birth_date=date(1990, 1, 1), sex="M")


@dataclass
class Program:
    hospital: Hospital
    clinic: Hospital  # a Part 2 program
    officer: dict[str, str]
    outsider: dict[str, str]  # an officer of a police department with no MOU in force
    compliance: dict[str, str]


@pytest.fixture
def program(upgraded: Installation) -> Program:
    hospital = register_sender(upgraded, "st-marys")
    clinic = register_clinic(upgraded)
    register_police(upgraded)
    register_police(upgraded, "pd-elsewhere", "baa:2026-01-01")  # no MOU
    upgraded.admin("org", "add", "compliance", "--name", "Compliance office", "--type", "compliance")
    return Program(
        hospital=hospital,
        clinic=clinic,
        officer=add_client(upgraded, "pd-springfield", "rms", "officer", "officer.jones", "--mfa"),
        outsider=add_client(upgraded, "pd-elsewhere", "rms-2", "officer", "officer.smith", "--mfa"),
        compliance=add_client(upgraded, "compliance", "audit-app", "compliance_officer", "privacy.officer"),
    )


def test_flags_follow_consent_part2_needs_its_own_and_revocation_hides_them(
    server: Server, upgraded: Installation, program: Program
) -> None:
    push_hl7(server, program.hospital, crisis_adt(ALEX, "H-1"))
    push_fhir(server, program.hospital, "/CarePlan", crisis_plan(ALEX))
    push_fhir(server, program.clinic, "/CareTeam", care_team(ALEX))

    nothing = by_identifier(server, program.officer, ALEX)
    assert nothing.status_code == 200, nothing.text
    assert nothing.headers["content-type"].startswith("application/fhir+json")
    assert shape(nothing.json()) == {"resourceType": "Bundle", "type": "searchset", "total": 0}
    unknown = by_identifier(
        server, program.officer, Person(mrn="NOBODY", family="X", given="Y", birth_date=date(2000, 1, 1))
    )
    assert shape(unknown.json()) == shape(nothing.json())  # denied and unknown look alike

    mental_health = push_fhir(
        server, program.hospital, "/Consent", police_consent(ALEX, "phi", "mental_health")
    )
    answer = by_identifier(server, program.officer, ALEX).json()
    assert codes(answer) == ["coresponder-recommended", "crisis-plan-on-file", "recent-crisis-contact"]
    assert answer["total"] == 3
    assert "meta" not in answer  # nothing from the Part 2 program: no 2.32 notice
    flag = answer["entry"][0]["resource"]
    assert flag["status"] == "active"
    assert flag["subject"]["reference"].startswith("Patient/")
    assert date.fromisoformat(flag["period"]["end"]).weekday() == 0  # a Monday: no finer date
    assert set(flag) == {"resourceType", "id", "status", "code", "subject", "period"}
    again = by_identifier(server, program.officer, ALEX).json()
    assert [e["resource"]["id"] for e in again["entry"]] == [e["resource"]["id"] for e in answer["entry"]]

    part2 = push_fhir(server, program.clinic, "/Consent", police_consent(ALEX, "part2"))
    with_part2 = by_identifier(server, program.officer, ALEX)
    bundle = with_part2.json()
    assert codes(bundle) == [
        "care-team-contact",
        "coresponder-recommended",
        "crisis-plan-on-file",
        "recent-crisis-contact",
    ]
    contact = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Flag"
        and e["resource"]["code"]["coding"][0]["code"] == "care-team-contact"
    )
    assert contact["code"]["text"] == "Care team contact available: 555-0142"
    assert TEAM_NAME not in with_part2.text  # the team's name would reveal the kind of care
    assert "crisis-clinic" not in with_part2.text  # nor is the source organisation named
    notices = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    assert len(notices) == 1
    assert notices[0]["search"] == {"mode": "include"}
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2"} in bundle[
        "meta"
    ]["security"]

    for consent_id, sender in ((part2["id"], program.clinic), (mental_health["id"], program.hospital)):
        revoke(server, sender, consent_id)
    revoked = by_identifier(server, program.officer, ALEX).json()
    assert shape(revoked) == shape(nothing.json())  # revocation takes effect on the next request

    records = pull_records(upgraded)
    assert [(r["decision"], r["outcome"]) for r in records] == [
        ("deny", "refused"),
        ("deny", "refused"),
        ("permit", "disclosed"),
        ("permit", "disclosed"),
        ("permit", "disclosed"),
        ("deny", "refused"),
    ]
    assert records[1]["person_id"] is None
    assert records[1]["detail"]["matched"] == "none"
    assert records[4]["detail"]["flags"] == codes(bundle)
    assert "ATTACH_P2_NOTICE" in records[4]["obligations"]
    assert "MINIMUM_NECESSARY_FLAGS_ONLY" in records[2]["obligations"]
    assert records[5]["reasons"]
    assert "CONSENT-REVOKED" in records[5]["reasons"]
    assert all(
        r["requester"] == {"org": "pd-springfield", "client": "rms", "user": "officer.jones"} for r in records
    )
    assert all(ALEX.family not in json.dumps(r) and ALEX.mrn not in json.dumps(r) for r in records)


def test_the_accounting_lists_each_flag_disclosure_to_police(
    server: Server, upgraded: Installation, program: Program
) -> None:
    push_fhir(server, program.clinic, "/CareTeam", care_team(ALEX))
    push_fhir(server, program.clinic, "/Consent", police_consent(ALEX, "phi", "part2"))
    assert codes(by_identifier(server, program.officer, ALEX).json()) == ["care-team-contact"]
    upgraded.admin("audit", "checkpoint")
    person_id = upgraded.query("SELECT person_id FROM envelopes")[0][0]

    accounting = httpx.get(
        f"{server.base_url}/audit/accounting/{person_id}",
        headers={**program.compliance, "X-Purpose-Of-Use": "HOVERSIGHT"},
        timeout=30,
    )
    assert accounting.status_code == 200, accounting.text
    [disclosure] = accounting.json()["disclosures"]
    assert disclosure["recipient"]["org_id"] == "pd-springfield"
    assert disclosure["part2"] is True
    assert disclosure["accountable"] is True  # consent-based Part 2 (42 CFR 2.24)
    assert "care-team-contact" in disclosure["description"]
    assert "P2-CONSENT-231" in [basis["code"] for basis in disclosure["legal_basis"]]


def test_demographics_match_one_person_or_say_multiple_matches(
    server: Server, upgraded: Installation, program: Program
) -> None:
    for person, control in ((ALEX, "D-1"), (TWIN_A, "D-2"), (TWIN_B, "D-3")):
        push_hl7(server, program.hospital, crisis_adt(person, control))
        push_fhir(server, program.hospital, "/Consent", police_consent(person, "phi", "mental_health"))
    one = pull(server, program.officer, family="featherstonehaugh", given="OTTOLINE", birthdate="1979-02-03")
    assert codes(one.json()) == ["coresponder-recommended", "recent-crisis-contact"]

    several = pull(server, program.officer, family="Smith", given="Jordan", birthdate="1990-01-01")
    assert several.status_code == 200
    bundle = several.json()
    assert codes(bundle) == []
    assert bundle["total"] == 0
    [outcome] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    assert outcome["search"] == {"mode": "outcome"}
    assert outcome["resource"]["issue"][0]["code"] == "multiple-matches"
    assert "Smith" not in several.text
    assert pull_records(upgraded)[-1]["detail"]["matched"] == "several"


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({}, "Flag"),
        ({"family": "Smith"}, "Flag"),
        ({"family": "Smith", "given": "Jordan", "birthdate": "01/01/1990"}, "birthdate"),
        ({"subject:identifier": "MRN-31"}, "subject:identifier"),
        ({"subject:identifier": "hospital-mrn|MRN-31"}, "subject:identifier"),
        ({"subject:identifier": f"{MRN_SYSTEM}|"}, "subject:identifier"),
        (
            {
                "subject:identifier": f"{MRN_SYSTEM}|MRN-31",
                "family": "X",
                "given": "Y",
                "birthdate": "2000-01-01",
            },
            "Flag",
        ),
    ],
)
def test_a_search_that_names_no_one_clearly_is_refused_without_echoing_it(
    server: Server, program: Program, params: dict[str, str], location: str
) -> None:
    answer = pull(server, program.officer, **params)
    assert answer.status_code == 400, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [location]
    assert "MRN-31" not in answer.text
    assert "Smith" not in answer.text


def test_an_org_without_a_program_agreement_gets_nothing_and_the_refusal_is_audited(
    server: Server, upgraded: Installation, program: Program
) -> None:
    push_hl7(server, program.hospital, crisis_adt(ALEX, "N-1"))
    push_fhir(
        server,
        program.hospital,
        "/Consent",
        consent(subject(ALEX), recipients=[recipient_class("police")], purposes=("COC",)),
    )
    assert codes(by_identifier(server, program.officer, ALEX).json()) == [
        "coresponder-recommended",
        "recent-crisis-contact",
    ]
    outsider = by_identifier(server, program.outsider, ALEX)
    assert shape(outsider.json()) == {"resourceType": "Bundle", "type": "searchset", "total": 0}
    refusal = pull_records(upgraded)[-1]
    assert (refusal["decision"], refusal["outcome"]) == ("deny", "refused")
    assert refusal["requester"]["org"] == "pd-elsewhere"
    assert refusal["reasons"][0] == "DEFAULT-DENY"
    assert refusal["detail"]["withheld_flags"] == ["coresponder-recommended", "recent-crisis-contact"]
