"""The consent API through a real server on SQLite and PostgreSQL: record, read, search, history,
revoke, the Part 2 element check, bad input, Bundles, idempotency and tampering."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from consent_ledger.fhir import EXT_SIGNATURE, EXT_STATEMENT
from gateway.settings import load_settings
from gateway.store.database import create_db_engine
from tests.builders.consent import consent, recipient_org, without
from tests.builders.owner import as_database_owner
from tests.conftest import Hospital, Installation, Server, race, register_sender

CANARY_NAME = "Zebulon Quartermaine"
PATIENT = {
    "resourceType": "Patient",
    "id": "p-1",
    "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-77"}],
    "name": [{"family": "Quartermaine", "given": ["Zebulon"]}],
    "birthDate": "1984-05-06",
}


@pytest.fixture
def clinic(upgraded: Installation) -> Hospital:
    register_sender(upgraded, "pd-springfield", org_type="police")
    return register_sender(upgraded, "crisis-clinic", org_type="clinic")


def _post(server: Server, who: Hospital, path: str, document: Any, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/fhir/r4{path}",
        content=json.dumps(document).encode(),
        headers={**who.auth, "Content-Type": "application/fhir+json", **headers},
        timeout=30,
    )


def _get(server: Server, who: Hospital, path: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/fhir/r4{path}", headers=who.auth, timeout=30)


def _named(**changes: Any) -> dict[str, Any]:
    document = consent({"reference": "Patient/p-1", "display": CANARY_NAME}, **changes)
    return document


def _rows(installation: Installation) -> int:
    return int(installation.query("SELECT count(*) FROM consent_versions")[0][0])


@pytest.fixture
def patient_known(server: Server, clinic: Hospital) -> None:
    assert _post(server, clinic, "/Patient", PATIENT).status_code == 201


def test_a_recorded_consent_is_read_searched_revoked_and_keeps_its_history(
    server: Server, upgraded: Installation, clinic: Hospital, patient_known: None
) -> None:
    created = _post(server, clinic, "/Consent", _named(recipients=[recipient_org("pd-springfield")]))
    assert created.status_code == 201, created.text
    consent_id = created.json()["id"]
    assert created.headers["ETag"] == 'W/"1"'
    assert created.headers["Location"].endswith(f"/fhir/r4/Consent/{consent_id}/_history/1")
    assert created.json()["meta"]["versionId"] == "1"

    assert _get(server, clinic, f"/Consent/{consent_id}").json()["status"] == "active"
    found = _get(server, clinic, "/Consent?patient=Patient/p-1").json()
    assert (found["type"], found["total"]) == ("searchset", 1)
    by_identifier = _get(
        server, clinic, "/Consent?patient:identifier=urn:oid:2.16.840.1.113883.19.5|MRN-77"
    ).json()
    assert [e["resource"]["id"] for e in by_identifier["entry"]] == [consent_id]
    nobody = _get(server, clinic, "/Consent?patient=Patient/nobody").json()
    assert nobody["total"] == 0
    assert "entry" not in nobody  # FHIR JSON has no empty arrays

    before_revocation = datetime.now(UTC)
    revoked = _post(
        server,
        clinic,
        f"/Consent/{consent_id}/$revoke",
        {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueCode": "patient-request"}]},
    )
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["status"], revoked.headers["ETag"]) == ("inactive", 'W/"2"')

    history = _get(server, clinic, f"/Consent/{consent_id}/_history").json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert _get(server, clinic, f"/Consent/{consent_id}/_history/1").json()["status"] == "active"
    assert _get(server, clinic, f"/Consent/{consent_id}/_history/3").status_code == 404
    patient_history = _get(server, clinic, "/Consent/_history?patient=p-1").json()
    assert patient_history["total"] == 2

    person_id = upgraded.query("SELECT DISTINCT person_id FROM consent_versions")[0][0]
    then = json.loads(upgraded.cli_ok("consent", "facts", person_id, "--at", before_revocation.isoformat()))
    now = json.loads(upgraded.cli_ok("consent", "facts", person_id))
    assert [(f["id"], f["status"]) for f in then] == [(consent_id, "active")]
    assert [(f["id"], f["status"]) for f in now] == [(consent_id, "revoked")]
    assert now[0]["recipients"] == ["pd-springfield"]
    assert now[0]["expires"] == "2027-11-01T00:00:00.000000Z"

    again = _post(server, clinic, f"/Consent/{consent_id}/$revoke", {"resourceType": "Parameters"})
    assert again.status_code == 409
    assert again.json()["resourceType"] == "OperationOutcome"
    assert _rows(upgraded) == 2


def test_recording_and_updating_a_consent_honour_prefer_return(
    server: Server, upgraded: Installation, clinic: Hospital, patient_known: None
) -> None:
    created = _post(server, clinic, "/Consent", _named(), Prefer="return=minimal")
    assert created.status_code == 201, created.text
    assert created.content == b""
    assert (created.headers["ETag"], created.headers["Preference-Applied"]) == ('W/"1"', "return=minimal")
    consent_id = created.headers["Location"].split("/Consent/")[1].split("/")[0]

    updated = httpx.put(
        f"{server.base_url}/fhir/r4/Consent/{consent_id}",
        content=json.dumps(_named()).encode(),
        headers={
            **clinic.auth,
            "Content-Type": "application/fhir+json",
            "If-Match": 'W/"1"',
            "Prefer": "return=OperationOutcome",
        },
        timeout=30,
    )
    assert updated.status_code == 200, updated.text
    assert updated.headers["ETag"] == 'W/"2"'
    assert updated.headers["Location"].endswith(f"/Consent/{consent_id}/_history/2")
    assert updated.json()["issue"][0]["diagnostics"] == f"updated: Consent/{consent_id}/_history/2"
    assert CANARY_NAME not in updated.text
    assert _rows(upgraded) == 2


def test_an_incomplete_active_part2_consent_is_refused_naming_every_missing_element(
    server: Server, upgraded: Installation, clinic: Hospital, patient_known: None
) -> None:
    document = without(
        _named(classes=("phi",), part2_label=True, purposes=("TREAT",)),
        f"extension={EXT_SIGNATURE}",
        "sourceAttachment",
        f"extension={EXT_STATEMENT}=right-to-revoke",
    )
    answer = _post(server, clinic, "/Consent", document)
    assert answer.status_code == 422
    diagnostics = [issue["diagnostics"] for issue in answer.json()["issue"]]
    assert "missing: 2.31(a)(8) signature" in diagnostics
    assert "missing: 2.31(a)(6) right to revoke and how" in diagnostics
    assert _rows(upgraded) == 0

    draft = {**document, "status": "draft"}
    stored = _post(server, clinic, "/Consent", draft)
    assert stored.status_code == 201
    person_id = upgraded.query("SELECT DISTINCT person_id FROM consent_versions")[0][0]
    facts = json.loads(upgraded.cli_ok("consent", "facts", person_id))
    assert [(f["status"], f["part2_elements_complete"]) for f in facts] == [("draft", False)]

    completed = _named(classes=("phi",), part2_label=True, purposes=("TREAT",))
    updated = httpx.put(
        f"{server.base_url}/fhir/r4/Consent/{stored.json()['id']}",
        content=json.dumps(completed).encode(),
        headers={**clinic.auth, "Content-Type": "application/fhir+json", "If-Match": 'W/"1"'},
        timeout=30,
    )
    assert (updated.status_code, updated.headers["ETag"]) == (200, 'W/"2"')
    facts = json.loads(upgraded.cli_ok("consent", "facts", person_id))
    assert [(f["status"], f["part2_elements_complete"]) for f in facts] == [("active", True)]
    stale = httpx.put(
        f"{server.base_url}/fhir/r4/Consent/{stored.json()['id']}",
        content=json.dumps(completed).encode(),
        headers={**clinic.auth, "Content-Type": "application/fhir+json", "If-Match": 'W/"1"'},
        timeout=30,
    )
    assert stale.status_code == 412


@pytest.mark.parametrize(
    ("change", "status", "location"),
    [
        ({"patient": {"reference": "Patient/nobody", "display": "x"}}, 422, "Consent.patient"),
        ({"period": {"start": "2027-01-01", "end": "2026-01-01"}}, 400, "Consent.provision.period.end"),
        ({"purposes": ("COC", "MARKETING")}, 400, "Consent.provision.purpose[1]"),
        ({"recipients": [recipient_org("unregistered-org")]}, 400, "Consent.provision.actor"),
        ({"status": "definitely"}, 400, "Consent.status"),
    ],
    ids=["unknown patient", "period reversed", "unknown purpose", "unregistered recipient", "not R4"],
)
def test_bad_consents_get_an_operation_outcome_and_write_nothing(
    server: Server,
    upgraded: Installation,
    clinic: Hospital,
    patient_known: None,
    change: dict[str, Any],
    status: int,
    location: str,
) -> None:
    arguments = dict(change)  # parametrize shares the dict between the two backends
    patient = arguments.pop("patient", None)
    document = consent(patient or {"reference": "Patient/p-1", "display": CANARY_NAME}, **arguments)
    answer = _post(server, clinic, "/Consent", document)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    assert location in [e for issue in body["issue"] for e in issue["expression"]]
    assert CANARY_NAME not in answer.text
    assert _rows(upgraded) == 0


def test_police_may_not_record_consents(server: Server, upgraded: Installation, clinic: Hospital) -> None:
    police = register_sender(upgraded, "pd-shelbyville", org_type="police")
    answer = _post(server, police, "/Consent", _named())
    assert answer.status_code == 403
    assert "CONSENT-MANAGE" in answer.json()["issue"][0]["diagnostics"]
    assert _get(server, police, "/Consent?patient=p-1").status_code == 403


def test_a_redelivered_consent_with_the_same_idempotency_key_is_recorded_once(
    server: Server, upgraded: Installation, clinic: Hospital, patient_known: None
) -> None:
    first = _post(server, clinic, "/Consent", _named(), **{"Idempotency-Key": "form-42"})
    second = _post(server, clinic, "/Consent", _named(), **{"Idempotency-Key": "form-42"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert _rows(upgraded) == 1


def test_concurrent_consents_with_one_idempotency_key_are_recorded_once(
    server: Server, upgraded: Installation, clinic: Hospital, patient_known: None
) -> None:
    """A form resent before the first request committed: one consent, and every answer is it."""
    answers = race(6, lambda: _post(server, clinic, "/Consent", _named(), **{"Idempotency-Key": "form-43"}))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert _rows(upgraded) == 1


def test_a_consent_in_a_transaction_bundle_reaches_the_ledger_and_a_bad_one_fails_the_bundle(
    server: Server, upgraded: Installation, clinic: Hospital
) -> None:
    patient_url = "urn:uuid:6f1c3c2a-0000-4000-8000-000000000001"
    good = consent({"reference": patient_url, "display": CANARY_NAME})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": patient_url, "resource": PATIENT, "request": {"method": "POST", "url": "Patient"}},
            {"resource": good, "request": {"method": "POST", "url": "Consent"}},
        ],
    }
    bad_bundle = json.loads(json.dumps(bundle))
    bad_bundle["entry"][1]["resource"] = without(good, "provision.purpose")
    rejected = _post(server, clinic, "", bad_bundle)
    assert rejected.status_code == 400
    assert "Bundle.entry[1].resource" in json.dumps(rejected.json())
    assert _rows(upgraded) == 0
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 0

    accepted = _post(server, clinic, "", bundle)
    assert accepted.status_code == 200, accepted.text
    consent_location = accepted.json()["entry"][1]["response"]["location"]
    assert consent_location.startswith("Consent/")
    assert _get(server, clinic, f"/{consent_location.split('/_history')[0]}").json()["status"] == "active"
    assert _rows(upgraded) == 1


def test_consent_text_is_sealed_and_version_rows_cannot_be_changed(
    server: Server, upgraded: Installation, clinic: Hospital, patient_known: None
) -> None:
    assert _post(server, clinic, "/Consent", _named()).status_code == 201
    row = upgraded.query("SELECT terms, document_sealed FROM consent_versions")[0]
    assert CANARY_NAME not in row[0]
    assert CANARY_NAME.encode() not in bytes(row[1])

    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    try:
        for statement in ("UPDATE consent_versions SET reason = 'x'", "DELETE FROM consent_versions"):
            with (
                pytest.raises(DatabaseError, match=r"append-only|not authorized"),
                engine.begin() as connection,
            ):
                connection.execute(text(statement))
        assert upgraded.cli_ok("consent", "verify").startswith("ok: 1 consents")

        with as_database_owner(upgraded.database_url) as connection:  # past every barrier
            if connection.dialect.name == "sqlite":
                connection.execute(text("DROP TRIGGER consent_versions_no_update"))
            connection.execute(text("UPDATE consent_versions SET recorded_by_org = 'pd-springfield'"))
    finally:
        engine.dispose()
    verify = upgraded.cli("consent", "verify")
    assert verify.returncode == 1
    assert "version 1: content does not match its hash" in verify.stderr


def test_expiry_needs_no_job(
    upgraded: Installation, server: Server, clinic: Hospital, patient_known: None
) -> None:
    today = datetime.now(UTC).date()
    document = _named(period={"start": (today - timedelta(days=10)).isoformat(), "end": today.isoformat()})
    assert _post(server, clinic, "/Consent", document).status_code == 201
    person_id = upgraded.query("SELECT DISTINCT person_id FROM consent_versions")[0][0]
    end_of_today = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    before = json.loads(
        upgraded.cli_ok(
            "consent", "facts", person_id, "--at", (end_of_today - timedelta(seconds=1)).isoformat()
        )
    )
    after = json.loads(upgraded.cli_ok("consent", "facts", person_id, "--at", end_of_today.isoformat()))
    assert [f["status"] for f in before] == ["active"]
    assert [f["status"] for f in after] == ["expired"]


def test_the_capability_statement_lists_the_consent_interactions(server: Server) -> None:
    statement = httpx.get(f"{server.base_url}/metadata", timeout=30).json()
    consent_entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Consent")
    assert {i["code"] for i in consent_entry["interaction"]} >= {"create", "read", "vread", "update"}
    assert [o["name"] for o in consent_entry["operation"]] == ["revoke", "expire"]


def test_the_readme_example_consent_is_recorded(server: Server, upgraded: Installation) -> None:
    examples = Path(__file__).resolve().parents[2] / "docs" / "examples"
    register_sender(upgraded, "pd-springfield", org_type="police")
    team = register_sender(upgraded, "crisis-clinic", org_type="clinic")
    assert (
        _post(server, team, "/Patient", json.loads((examples / "patient.json").read_text())).status_code
        == 201
    )
    answer = _post(server, team, "/Consent", json.loads((examples / "consent.json").read_text()))
    assert (answer.status_code, answer.headers["ETag"]) == (201, 'W/"1"'), answer.text
