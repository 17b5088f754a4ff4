"""The flag pull, end to end over HTTP with several organisations (SQLite and PostgreSQL): every
cell of requester type x data class x consent state, asserting exactly which flags come back,
that no answer names a diagnosis, substance use or the Part 2 program, and that every pull
leaves an audit record (accountable where the law says so).

Each cell's person holds records of one data class, under one consent state; the expected
flags are written out from regulations.md, not computed by the engine:
- phi / mental health: clinical requesters (EMS, the co-responder team) under treatment
  (HIPAA-TPO, COC is a treatment purpose); police only under a consent naming them.
- Part 2: only under a consent naming the requester with part2 in scope (42 CFR 2.31), for
  everyone; without it every flag resting on a Part 2 record is dropped (REDACT_PART2).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx

from tests.builders.consent import consent, recipient_class
from tests.builders.hl7 import Person
from tests.builders.program import (
    FORBIDDEN_WORDS,
    by_identifier,
    care_team,
    codes,
    crisis_adt,
    crisis_plan,
    pull_records,
    push_fhir,
    push_hl7,
    register_clinic,
    register_police,
    revoke,
    subject,
)
from tests.conftest import Installation, Server, add_client, register_sender

REQUESTERS = ("officer", "dispatcher", "ems", "coresponder")
CLASSES = ("phi", "mental_health", "part2")
STATES = ("none", "all", "no_part2", "team_only", "revoked", "expired")

# What a person of each data class has on file, as flags.
FLAGS = {
    "phi": ["communication-needs"],
    "mental_health": ["coresponder-recommended", "crisis-plan-on-file", "recent-crisis-contact"],
    "part2": ["care-team-contact", "coresponder-recommended", "recent-crisis-contact"],
}
EVERYONE = ("police", "ems", "co_responder_team")


def expected(requester: str, data_class: str, state: str) -> list[str]:
    clinical = requester in ("ems", "coresponder")
    names_requester = state in ("all", "no_part2") or (state == "team_only" and requester == "coresponder")
    if data_class == "part2":
        covers_part2 = state == "all" or (state == "team_only" and requester == "coresponder")
        return FLAGS["part2"] if covers_part2 else []
    return FLAGS[data_class] if clinical or names_requester else []


def person_for(index: int, data_class: str, state: str) -> Person:
    given = "".join(chr(ord("a") + int(d)) for d in f"{index:02d}")  # letters: names are normalised
    return Person(
        mrn=f"MX-{data_class}-{state}",
        family="Matrixperson",
        given=f"Cell{given}",
        birth_date=date(1970, 1, 1 + index % 28).replace(year=1970 + index),
    )


def communication_flag(person: Person) -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        "status": "active",
        "code": {"coding": [{"system": "urn:consent-gateway:police-flag", "code": "communication-needs"}]},
        "subject": subject(person),
        "period": {"start": "2026-11-01"},
    }


def consent_for(person: Person, data_class: str, state: str) -> dict[str, Any]:
    scope = ("phi", "mental_health") if state == "no_part2" else ("phi", "mental_health", "part2")
    recipients = ("co_responder_team",) if state == "team_only" else EVERYONE
    period = {"start": "2025-01-01", "end": "2025-12-31"} if state == "expired" else None
    return consent(
        subject(person),
        classes=scope,
        purposes=("COC",),
        recipients=[recipient_class(r) for r in recipients],
        period=period,
        part2_label="part2" in scope,
    )


def test_every_cell_of_the_matrix(upgraded: Installation, server: Server) -> None:
    hospital = register_sender(upgraded, "st-marys")
    clinic = register_clinic(upgraded)
    register_police(upgraded)
    register_sender(upgraded, "county-ems", org_type="ems", agreements=("baa:2026-01-01",))
    register_sender(upgraded, "co-team", org_type="co_responder_team", agreements=("baa:2026-01-01",))
    who = {
        "officer": add_client(upgraded, "pd-springfield", "rms", "officer", "officer.jones", "--mfa"),
        "dispatcher": add_client(upgraded, "pd-springfield", "cad", "dispatcher", "dispatch.lee", "--mfa"),
        "ems": add_client(upgraded, "county-ems", "epcr", "clinician", "medic.ortiz", "--mfa"),
        "coresponder": add_client(
            upgraded, "co-team", "co-app", "coresponder_clinician", "clin.rivera", "--mfa"
        ),
    }

    people: dict[tuple[str, str], Person] = {}
    for index, (data_class, state) in enumerate((c, s) for c in CLASSES for s in STATES):
        person = people[data_class, state] = person_for(index, data_class, state)
        sender = clinic if data_class == "part2" else hospital
        if data_class == "phi":
            push_fhir(server, hospital, "/Flag", communication_flag(person))
        else:
            push_hl7(server, sender, crisis_adt(person, f"MX-{index}"))
        if data_class == "mental_health":
            push_fhir(server, hospital, "/CarePlan", crisis_plan(person))
        if data_class == "part2":
            push_fhir(server, clinic, "/CareTeam", care_team(person))
        if state != "none":
            recorded = push_fhir(server, sender, "/Consent", consent_for(person, data_class, state))
            if state == "revoked":
                revoke(server, sender, recorded["id"])

    actual: dict[tuple[str, str, str], list[str]] = {}
    answers: list[str] = []
    for requester in REQUESTERS:
        for (data_class, state), person in people.items():
            answer = by_identifier(server, who[requester], person)
            assert answer.status_code == 200, answer.text
            actual[requester, data_class, state] = codes(answer.json())
            answers.append(answer.text)
    wanted = {
        (requester, data_class, state): expected(requester, data_class, state)
        for requester in REQUESTERS
        for data_class in CLASSES
        for state in STATES
    }
    assert actual == wanted
    assert sum(1 for flags in wanted.values() if flags) >= 30  # the matrix is not mostly empty

    # No answer names a diagnosis, substance use, a program or a date finer than the week.
    for text in answers:
        lowered = text.lower()
        assert not [word for word in FORBIDDEN_WORDS if word in lowered]
        for entry in json.loads(text).get("entry", []):
            if entry["resource"]["resourceType"] == "Flag":
                assert date.fromisoformat(entry["resource"]["period"]["end"]).weekday() == 0

    records = pull_records(upgraded)
    assert len(records) == len(wanted)  # every pull, permitted or not, is in the log
    disclosed = [r for r in records if r["outcome"] == "disclosed"]
    assert len(disclosed) == sum(1 for flags in wanted.values() if flags)
    for record in records:
        assert record["reasons"]
        assert record["policy_version"].startswith("sha256:")
        assert (record["decision"] == "permit") or record["outcome"] == "refused"
    for record in disclosed:
        # A consent-based Part 2 disclosure is accountable (42 CFR 2.24), with the 2.32 notice.
        part2 = "part2" in record["data_classes"]
        assert record["detail"]["accountable"] is part2
        assert ("ATTACH_P2_NOTICE" in record["obligations"]) is part2


def test_an_accounting_is_available_for_every_disclosed_pull(upgraded: Installation, server: Server) -> None:
    """The compliance office sees each flag disclosure to police in the person's accounting."""
    clinic = register_clinic(upgraded)
    register_police(upgraded)
    upgraded.admin("org", "add", "compliance", "--name", "Compliance office", "--type", "compliance")
    officer = add_client(upgraded, "pd-springfield", "rms", "officer", "officer.jones", "--mfa")
    auditor = add_client(upgraded, "compliance", "audit-app", "compliance_officer", "privacy.officer")
    person = person_for(1, "part2", "all")
    push_hl7(server, clinic, crisis_adt(person, "AC-1"))
    push_fhir(server, clinic, "/Consent", consent_for(person, "part2", "all"))
    for _ in range(3):
        assert codes(by_identifier(server, officer, person).json()) == [
            "coresponder-recommended",
            "recent-crisis-contact",
        ]
    upgraded.admin("audit", "checkpoint")
    person_id = upgraded.query("SELECT person_id FROM envelopes")[0][0]
    accounting = httpx.get(
        f"{server.base_url}/audit/accounting/{person_id}",
        headers={**auditor, "X-Purpose-Of-Use": "HOVERSIGHT"},
        timeout=30,
    ).json()
    disclosures = accounting["disclosures"]
    assert len(disclosures) == 3
    assert {d["recipient"]["user"] for d in disclosures} == {"officer.jones"}
    assert all(d["part2"] and d["accountable"] for d in disclosures)
    assert all("coresponder-recommended" in d["description"] for d in disclosures)
    assert json.dumps(accounting).count(person.mrn) == 0
