"""Suspending a person's accounting of disclosures to an agency (45 CFR 164.528(a)(2)) through a
real server: recorded in the log, applied to the person's copy (PATRQT), shown to oversight
(HOVERSIGHT), bounded for oral statements, and lifted when it ends."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.builders.hl7 import Person
from tests.builders.program import (
    MRN_SYSTEM,
    by_identifier,
    codes,
    crisis_adt,
    police_consent,
    push_fhir,
    push_hl7,
    register_clinic,
    register_police,
)
from tests.conftest import Installation, Server, add_client

PERSON = Person(mrn="MRN-5150", family="Achterberg", given="Lieke", birth_date=date(1984, 7, 9))


@pytest.fixture
def program(upgraded: Installation, server: Server) -> dict[str, Any]:
    """A person whose flags one police department pulled twice and another once."""
    clinic = register_clinic(upgraded)
    register_police(upgraded, "pd-springfield")
    register_police(upgraded, "pd-shelbyville")
    upgraded.admin("org", "add", "compliance", "--name", "Compliance office", "--type", "compliance")
    springfield = add_client(upgraded, "pd-springfield", "rms", "officer", "officer.jones", "--mfa")
    shelbyville = add_client(upgraded, "pd-shelbyville", "rms-s", "officer", "officer.ng", "--mfa")
    auditor = add_client(upgraded, "compliance", "audit-app", "compliance_officer", "privacy.officer")
    push_hl7(server, clinic, crisis_adt(PERSON, "SUS-1"))
    push_fhir(server, clinic, "/Consent", police_consent(PERSON, "phi", "mental_health", "part2"))
    for officer in (springfield, springfield, shelbyville):
        assert codes(by_identifier(server, officer, PERSON).json())
    person_id = upgraded.query("SELECT person_id FROM envelopes")[0][0]
    upgraded.admin("audit", "checkpoint")  # the disclosures are in the tree
    return {"person_id": person_id, "auditor": auditor}


def accounting(server: Server, auditor: dict[str, str], person_id: str, purpose: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{server.base_url}/audit/accounting/{person_id}",
        headers={**auditor, "X-Purpose-Of-Use": purpose},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def suspend(server: Server, auditor: dict[str, str], person_id: str, **body: Any) -> httpx.Response:
    today = datetime.now(UTC).date()
    document = {
        "agency": "pd-springfield",
        "statement": "written",
        "reference": "PD-2026-0417",
        "start": today.isoformat(),
        "end": (today + timedelta(days=90)).isoformat(),
        **body,
    }
    return httpx.post(
        f"{server.base_url}/audit/accounting/{person_id}/suspensions",
        json=document,
        headers={**auditor, "X-Purpose-Of-Use": "HOVERSIGHT"},
        timeout=30,
    )


def recipients(report: dict[str, Any]) -> list[str]:
    return sorted(d["recipient"]["org_id"] for d in report["disclosures"])


def test_a_suspension_hides_the_agencys_disclosures_from_the_persons_copy_only(
    server: Server, upgraded: Installation, program: dict[str, Any]
) -> None:
    person_id, auditor = program["person_id"], program["auditor"]
    before = accounting(server, auditor, person_id, "PATRQT")
    assert recipients(before) == ["pd-shelbyville", "pd-springfield", "pd-springfield"]

    recorded = suspend(server, auditor, person_id)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["in_force"] is True

    # No checkpoint first: a suspension still waiting for integration already applies.
    patient_copy = accounting(server, auditor, person_id, "PATRQT")
    assert recipients(patient_copy) == ["pd-shelbyville"]
    assert "suspension" not in json.dumps(patient_copy)  # the person is not told

    oversight = accounting(server, auditor, person_id, "HOVERSIGHT")
    assert recipients(oversight) == ["pd-shelbyville", "pd-springfield", "pd-springfield"]
    assert [
        d["suspended"] for d in oversight["disclosures"] if d["recipient"]["org_id"] == "pd-springfield"
    ] == [
        True,
        True,
    ]
    assert oversight["suspensions"] == [
        {
            "agency": "pd-springfield",
            "statement": "written",
            "reference": "PD-2026-0417",
            "start": recorded.json()["start"],
            "end": recorded.json()["end"],
            "in_force": True,
        }
    ]
    page = httpx.get(
        f"{server.base_url}/audit/accounting/{person_id}",
        params={"format": "html"},
        headers={**auditor, "X-Purpose-Of-Use": "PATRQT"},
        timeout=30,
    )
    assert page.text.count("<tr><td>") == 1
    assert "Springfield" not in page.text
    assert "pd-springfield" not in page.text

    upgraded.admin("audit", "checkpoint")
    kinds = [json.loads(bytes(row[0]))["kind"] for row in upgraded.query("SELECT leaf FROM audit_entries")]
    assert kinds.count("accounting.suspension") == 1  # the log keeps the statement and every disclosure
    assert recipients(accounting(server, auditor, person_id, "PATRQT")) == ["pd-shelbyville"]


def test_a_suspension_that_has_ended_no_longer_applies(server: Server, program: dict[str, Any]) -> None:
    person_id, auditor = program["person_id"], program["auditor"]
    ended = datetime.now(UTC).date() - timedelta(days=1)
    recorded = suspend(
        server, auditor, person_id, start=(ended - timedelta(days=20)).isoformat(), end=ended.isoformat()
    )
    assert recorded.status_code == 201
    assert recorded.json()["in_force"] is False
    assert recipients(accounting(server, auditor, person_id, "PATRQT")) == [
        "pd-shelbyville",
        "pd-springfield",
        "pd-springfield",
    ]
    assert accounting(server, auditor, person_id, "HOVERSIGHT")["suspensions"][0]["in_force"] is False


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"statement": "oral", "end": (datetime.now(UTC).date() + timedelta(days=31)).isoformat()}, "end"),
        ({"end": (datetime.now(UTC).date() - timedelta(days=1)).isoformat()}, "end"),
        ({"agency": "crisis-clinic"}, "agency"),
        ({"agency": "no-such-org"}, "agency"),
        ({"reference": "Case of Lieke Achterberg"}, "reference"),
    ],
)
def test_a_suspension_that_breaks_the_rule_is_refused_and_not_recorded(
    server: Server, upgraded: Installation, program: dict[str, Any], body: dict[str, Any], location: str
) -> None:
    person_id, auditor = program["person_id"], program["auditor"]
    refused = suspend(server, auditor, person_id, **body)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith(f"{location}: ")
    assert "Achterberg" not in refused.text
    assert recipients(accounting(server, auditor, person_id, "PATRQT")) == [
        "pd-shelbyville",
        "pd-springfield",
        "pd-springfield",
    ]
    leaves = upgraded.query("SELECT leaf FROM audit_pending") + upgraded.query(
        "SELECT leaf FROM audit_entries"
    )
    assert not [row for row in leaves if b"accounting.suspension" in bytes(row[0])]


def test_an_oral_statement_is_good_for_thirty_days(server: Server, program: dict[str, Any]) -> None:
    today = datetime.now(UTC).date()
    recorded = suspend(
        server,
        program["auditor"],
        program["person_id"],
        statement="oral",
        reference="call-2026-11-24-sgt-ng",
        end=(today + timedelta(days=30)).isoformat(),
    )
    assert recorded.status_code == 201, recorded.text


def test_only_oversight_records_a_suspension(server: Server, program: dict[str, Any]) -> None:
    answer = httpx.post(
        f"{server.base_url}/audit/accounting/{program['person_id']}/suspensions",
        json={
            "agency": "pd-springfield",
            "statement": "written",
            "reference": "PD-1",
            "start": "2026-11-24",
            "end": "2027-01-01",
        },
        headers={**program["auditor"], "X-Purpose-Of-Use": "PATRQT"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("X-Purpose-Of-Use: ")


def test_nobody_but_a_compliance_officer_records_one(
    server: Server, upgraded: Installation, program: dict[str, Any]
) -> None:
    officer = add_client(upgraded, "pd-springfield", "rms-2", "officer", "officer.kim", "--mfa")
    answer = suspend(server, officer, program["person_id"])
    assert answer.status_code == 403
    assert MRN_SYSTEM not in answer.text
