"""EHR ingest through a real server on SQLite and PostgreSQL: HL7 v2 over HTTP, FHIR, the person index."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gateway.crypto import open_sealed
from gateway.keyring import load_keyring
from gateway.settings import load_settings
from gateway.store.database import create_db_engine
from tests.builders.hl7 import Person, adt
from tests.conftest import Hospital, Installation, Server, race, register_sender
from tests.shared_corpus import CORPUS

JANE = Person(mrn="MRN-100", family="Doe", given="Jane", birth_date=date(1980, 2, 3))


@pytest.fixture
def hospital(upgraded: Installation) -> Hospital:
    return register_sender(upgraded)


def _post_hl7(server: Server, hospital: Hospital, body: bytes) -> httpx.Response:
    return httpx.post(f"{server.base_url}/hl7v2", content=body, headers=hospital.auth, timeout=30)


def _post_fhir(
    server: Server, hospital: Hospital, path: str, document: Any, **headers: str
) -> httpx.Response:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return httpx.post(
        f"{server.base_url}/fhir/r4{path}",
        content=body,
        timeout=30,
        headers={**hospital.auth, "Content-Type": "application/fhir+json", **headers},
    )


def test_hl7_corpus_feed_lands_as_sealed_envelopes(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    accepted = 0
    for path in sorted((CORPUS / "hl7v2").iterdir()):
        answer = _post_hl7(server, hospital, path.read_bytes())
        assert answer.headers["content-type"].startswith("x-application/hl7-v2+er7")
        msa = next(s for s in answer.content.split(b"\r") if s.startswith(b"MSA")).split(b"|")[1]
        assert answer.status_code == {b"AA": 200, b"AE": 422, b"AR": 400}[msa]
        accepted += msa == b"AA"
    assert accepted == 9
    rows = upgraded.query("SELECT envelope_id, payload_sealed, source_format, source_org_id FROM envelopes")
    # four FHIR-Converter samples share MSH-10 MSG00001: one stored, three acknowledged as redeliveries
    assert len(rows) == 6
    keyring = load_keyring(upgraded.keyring)
    for envelope_id, sealed, source_format, org in rows:
        assert (source_format, org) == ("hl7v2", "ghh")
        assert open_sealed(keyring, bytes(sealed), associated_data=envelope_id.encode()).startswith(
            (b"MSH", b"\xef")
        )


def test_redelivered_message_is_acknowledged_again_and_stored_once(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    message = adt(JANE, control_id="REDELIVER-1").encode()
    first, second = _post_hl7(server, hospital, message), _post_hl7(server, hospital, message)
    assert b"MSA|AA|REDELIVER-1|" in first.content
    assert b"MSA|AA|REDELIVER-1|" in second.content
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 1


def test_msh8_is_not_stored_from_http_either(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    assert (
        _post_hl7(
            server, hospital, adt(JANE, control_id="S8", secret="leaked-credential").encode()
        ).status_code
        == 200
    )
    envelope_id, sealed = upgraded.query("SELECT envelope_id, payload_sealed FROM envelopes")[0]
    payload = open_sealed(load_keyring(upgraded.keyring), bytes(sealed), associated_data=envelope_id.encode())
    assert b"leaked-credential" not in payload
    assert b"PID|1||MRN-100" in payload


def test_identifier_and_demographic_linking_and_a_possible_duplicate(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    _post_hl7(server, hospital, adt(JANE, control_id="L1").encode())
    same_mrn = Person(mrn="MRN-100", family="Doe-Smith", given="Jane", birth_date=JANE.birth_date)
    _post_hl7(server, hospital, adt(same_mrn, control_id="L2").encode())  # exact identifier link
    new_mrn = Person(mrn="OTHER-5", family="DOE", given="jáne", birth_date=JANE.birth_date)
    _post_hl7(server, hospital, adt(new_mrn, control_id="L3").encode())  # unique demographic match
    people = upgraded.query("SELECT DISTINCT person_id FROM envelopes")
    assert len(people) == 1
    twin = Person(mrn="TWIN-1", family="Doe", given="Jane", birth_date=JANE.birth_date, sex="M")
    _post_hl7(server, hospital, adt(twin, control_id="L4").encode())  # same name and birth date, other sex
    assert len(upgraded.query("SELECT DISTINCT person_id FROM envelopes")) == 2
    listing = json.loads(upgraded.cli_ok("persons", "duplicates", "--json"))
    assert [row["reason"] for row in listing] == ["DEMOGRAPHIC_AMBIGUOUS"]
    assert "Doe" not in json.dumps(listing)


def test_a40_merge_points_the_old_person_at_the_survivor(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    old = Person(mrn="OLD-1", family="Roe", given="Rick", birth_date=JANE.birth_date)
    _post_hl7(server, hospital, adt(old, control_id="M1").encode())
    _post_hl7(server, hospital, adt(JANE, control_id="M2").encode())
    merge = adt(
        JANE, control_id="M3", event="A40", extra_segments=("MRG|OLD-1^^^GHH&2.16.840.1.113883.19.5&ISO^MR",)
    ).encode()
    assert b"MSA|AA|M3|" in _post_hl7(server, hospital, merge).content
    merged = upgraded.query("SELECT person_id, merged_into FROM persons WHERE merged_into IS NOT NULL")
    assert len(merged) == 1
    survivor = upgraded.query("SELECT person_id FROM envelopes WHERE message_id = 'M2'")[0][0]
    assert merged[0][1] == survivor
    _post_hl7(
        server, hospital, adt(old, control_id="M4").encode()
    )  # the old MRN now resolves to the survivor
    assert upgraded.query("SELECT person_id FROM envelopes WHERE message_id = 'M4'")[0][0] == survivor


def test_part2_program_records_are_labelled_part2(server: Server, upgraded: Installation) -> None:
    clinic = register_sender(
        upgraded,
        "crisis-clinic",
        org_type="part2_program",
        part2_program=True,
        agreements=("qsoa:2026-01-01",),
    )
    assert _post_hl7(server, clinic, adt(JANE, control_id="P2").encode()).status_code == 200
    classes, labels = upgraded.query("SELECT data_classes, security_labels FROM envelopes")[0]
    assert "part2" in classes.split(",")
    assert "42CFRPart2" in labels.split(",")


def test_orgs_that_may_not_push_are_refused(server: Server, upgraded: Installation) -> None:
    police = register_sender(upgraded, "pd", org_type="police", agreements=("data_sharing_mou:2026-01-01",))
    answer = _post_hl7(server, police, adt(JANE).encode())
    assert answer.status_code == 400
    assert b"MSA|AR|" in answer.content
    lapsed = register_sender(upgraded, "old-hosp", agreements=("baa:2020-01-01:2021-01-01",))
    refused = _post_fhir(server, lapsed, "/Patient", {"resourceType": "Patient", "name": [{"family": "X"}]})
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["code"] == "forbidden"
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 0


def test_fhir_corpus_feed_in_order(server: Server, upgraded: Installation, hospital: Hospital) -> None:
    fhir = CORPUS / "fhir"
    patient = _post_fhir(
        server, hospital, "/Patient", (fhir / "spec_patient-example-f001-pieter.json").read_bytes()
    )
    assert patient.status_code == 201
    person_id = patient.json()["id"]
    assert patient.headers["location"].endswith(f"/fhir/r4/Patient/{person_id}/_history/1")
    for name, kind in (
        ("spec_encounter-example-f001-heart.json", "Encounter"),
        ("spec_condition-example-f001-heart.json", "Condition"),
        ("spec_observation-example-f002-excess.json", "Observation"),
    ):
        created = _post_fhir(server, hospital, f"/{kind}", (fhir / name).read_bytes())
        assert created.status_code == 201, created.text
    # Consents go to the consent ledger, which records permit provisions only: this spec example
    # is a deny ("not this organisation"), refused with the element named
    deny = _post_fhir(server, hospital, "/Consent", (fhir / "spec_consent-example-notOrg.json").read_bytes())
    assert deny.status_code == 400
    assert ["Consent.provision.type"] in [issue["expression"] for issue in deny.json()["issue"]]
    unknown = _post_fhir(
        server, hospital, "/Consent", (fhir / "spec_consent-example-smartonfhir.json").read_bytes()
    )
    assert unknown.status_code == 422
    assert unknown.json()["issue"][0]["expression"] == ["Consent.patient"]
    assert upgraded.query("SELECT DISTINCT person_id FROM envelopes") == [(person_id,)]
    kinds = sorted(r[0] for r in upgraded.query("SELECT kind FROM envelopes"))
    assert kinds == ["condition", "encounter", "observation", "patient"]
    assert upgraded.query("SELECT count(*) FROM consent_versions") == [(0,)]


def _transaction() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:6f1e2a60-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:oid:1.2.3", "value": "T-1"}],
                    "name": [{"family": "Doe", "given": ["Jane"]}],
                    "birthDate": "1980-02-03",
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Encounter",
                    "status": "in-progress",
                    "class": {"code": "EMER"},
                    "subject": {"reference": "urn:uuid:6f1e2a60-0000-4000-8000-000000000001"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "resource": {
                    "resourceType": "CarePlan",
                    "status": "active",
                    "intent": "plan",
                    "subject": {"reference": "urn:uuid:6f1e2a60-0000-4000-8000-000000000001"},
                    "period": {"end": "2027-06-01"},
                },
                "request": {"method": "POST", "url": "CarePlan"},
            },
        ],
    }


def test_transaction_bundle_gets_a_transaction_response_and_is_idempotent(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    first = _post_fhir(server, hospital, "", _transaction(), **{"Idempotency-Key": "tx-1"})
    assert first.status_code == 200
    body = first.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created"] * 3
    assert body["entry"][1]["response"]["location"].startswith("Encounter/")
    again = _post_fhir(server, hospital, "", _transaction(), **{"Idempotency-Key": "tx-1"})
    assert again.json() == body
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 3


_PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-REPLAY-1"}],
    "name": [{"family": "Replayfamily", "given": ["Ann"]}],
    "birthDate": "1970-01-02",
}


def test_a_replayed_create_gets_the_first_answer_and_its_receipt_holds_the_resource_sealed(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    first = _post_fhir(server, hospital, "/Patient", _PATIENT, **{"Idempotency-Key": "pat-1"})
    assert first.status_code == 201
    again = _post_fhir(server, hospital, "/Patient", _PATIENT, **{"Idempotency-Key": "pat-1"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 1
    (response,) = upgraded.query("SELECT response FROM ingest_receipts WHERE message_key = 'key:pat-1'")[0]
    assert "Replayfamily" not in response
    assert "MRN-REPLAY-1" not in response
    receipt = json.loads(response)
    assert set(receipt) == {"location", "resource_sealed"}
    opened = open_sealed(
        load_keyring(upgraded.keyring),
        base64.b64decode(receipt["resource_sealed"]),
        associated_data=f"receipt|{hospital.org_id}|key:pat-1".encode(),
    )
    assert json.loads(opened) == first.json()


def test_a_create_answers_as_the_prefer_header_asks(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    """FHIR R4 http.html#ops: return=minimal / OperationOutcome / representation; unknown is ignored."""

    def create(n: int, prefer: str) -> httpx.Response:
        patient = {
            **_PATIENT,
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": f"MRN-P{n}"}],
        }
        return _post_fhir(server, hospital, "/Patient", patient, Prefer=prefer)

    minimal = create(1, "return=minimal")
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert minimal.headers["Preference-Applied"] == "return=minimal"
    assert minimal.headers["ETag"] == 'W/"1"'
    assert minimal.headers["Last-Modified"].endswith(" GMT")
    assert "/fhir/r4/Patient/" in minimal.headers["Location"]

    outcome = create(2, "return=OperationOutcome")
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"
    diagnostics = outcome.json()["issue"][0]["diagnostics"]
    assert diagnostics.startswith("created: Patient/")
    assert "Replayfamily" not in outcome.text  # names the location, never the content

    for prefer in ("return=representation", "return=everything"):
        full = create(3 if prefer.endswith("representation") else 4, prefer)
        assert full.status_code == 201
        assert full.json()["name"] == _PATIENT["name"]
    assert "Preference-Applied" not in full.headers  # the unknown value was ignored
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 4


def test_a_replayed_create_with_return_minimal_is_empty_too(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    headers = {"Idempotency-Key": "pat-min", "Prefer": "return=minimal"}
    first = _post_fhir(server, hospital, "/Patient", _PATIENT, **headers)
    again = _post_fhir(server, hospital, "/Patient", _PATIENT, **headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.content == b""
    assert again.headers["Location"] == first.headers["Location"]


def test_bundles_ignore_prefer_and_always_answer_with_the_response_bundle(
    server: Server, hospital: Hospital
) -> None:
    answer = _post_fhir(server, hospital, "", _transaction(), Prefer="return=minimal")
    assert answer.status_code == 200
    assert answer.json()["type"] == "transaction-response"
    assert "Preference-Applied" not in answer.headers


def test_a_replay_of_a_receipt_migrated_without_its_resource_says_where_the_resource_is(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    """Migration 0011 leaves old receipts their location only."""
    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO ingest_receipts (source_org_id, message_key, response, created_at)"
                    " VALUES (:org, 'key:old-1', :response, CURRENT_TIMESTAMP)"
                ),
                {"org": hospital.org_id, "response": json.dumps({"location": "Patient/p-9/_history/1"})},
            )
    finally:
        engine.dispose()
    again = _post_fhir(server, hospital, "/Patient", _PATIENT, **{"Idempotency-Key": "old-1"})
    assert again.status_code == 200
    assert again.headers["Location"].endswith("/fhir/r4/Patient/p-9/_history/1")
    outcome = again.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "informational"
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 0


def test_invalid_transaction_stores_nothing(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    bundle = _transaction()
    bundle["entry"][2]["resource"]["period"] = {"end": "June next year"}
    answer = _post_fhir(server, hospital, "", bundle)
    assert answer.status_code == 400
    issue = answer.json()["issue"][0]
    assert (issue["code"], issue["expression"]) == ("value", ["Bundle.entry[2].resource.period.end"])
    assert "June" not in answer.text
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 0
    assert upgraded.query("SELECT count(*) FROM persons")[0][0] == 0


def test_batch_bundle_answers_entry_by_entry(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    bundle = _transaction()
    bundle["type"] = "batch"
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Flag",
                "status": "active",
                "code": {"text": "x"},
                "subject": {"reference": "Patient/never-pushed"},
            },
            "request": {"method": "POST", "url": "Flag"},
        }
    )
    bundle["entry"].append({"request": {"method": "GET", "url": "Patient?name=x"}})
    body = _post_fhir(server, hospital, "", bundle).json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "201 Created", "201 Created", "404 Not Found", "400 Bad Request"]
    assert body["entry"][4]["response"]["outcome"]["issue"][0]["code"] == "not-supported"
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 3


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "structure"),
        ((CORPUS / "fhir" / "msfhirserver_Bundle-Batch.json").read_bytes(), 400, "duplicate"),
        ((CORPUS / "fhir" / "spec_bundle-references.json").read_bytes(), 400, "not-supported"),
        (json.dumps({"resourceType": "Patient"}).encode(), 400, "not-supported"),
    ],
    ids=["not-json", "duplicate-fullurl", "collection", "resource-at-base"],
)
def test_bad_bundles_get_an_operation_outcome(
    server: Server, upgraded: Installation, hospital: Hospital, body: bytes, status: int, code: str
) -> None:
    answer = _post_fhir(server, hospital, "", body)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/fhir+json")
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert answer.json()["issue"][0]["code"] == code
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 0


def test_oversize_bodies_are_refused_cleanly(upgraded: Installation, hospital: Hospital) -> None:
    from tests.conftest import start_server, stop_server

    small = start_server(upgraded, CGW_MAX_MESSAGE_BYTES="4096")
    try:
        big = adt(JANE).encode() + b"\rNTE|" + b"x" * 8000
        answer = _post_hl7(small, hospital, big)
        assert answer.status_code == 413
        assert b"MSA|AR|" in answer.content
        fhir = _post_fhir(small, hospital, "", b"{" + b" " * 8000 + b"}")
        assert (fhir.status_code, fhir.json()["issue"][0]["code"]) == (413, "too-long")
        assert httpx.get(f"{small.base_url}/healthz").status_code == 200
    finally:
        stop_server(small)
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 0


def test_capability_statement_lists_the_ingest_interactions(server: Server) -> None:
    statement = httpx.get(f"{server.base_url}/metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) >= {
        "Patient",
        "Encounter",
        "Condition",
        "Observation",
        "Flag",
        "CarePlan",
        "CareTeam",
        "DocumentReference",
        "Consent",
    }
    assert resources["Encounter"]["interaction"] == [{"code": "create"}]
    assert statement["rest"][0]["interaction"] == [{"code": "transaction"}, {"code": "batch"}]


def test_concurrent_pushes_about_one_new_person_create_one_person(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    """Without key locks, parallel transactions each find nobody and each create a person."""
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "RACE-1"}],
        "name": [{"family": "Racer", "given": ["Rae"]}],
        "birthDate": "1990-09-09",
    }
    keys = iter(range(8))  # a key each: these are eight different requests
    answers = race(
        8,
        lambda: _post_fhir(
            server, hospital, "/Patient", patient, **{"Idempotency-Key": f"race-{next(keys)}"}
        ),
    )
    assert [a.status_code for a in answers] == [201] * 8
    assert upgraded.query("SELECT count(*) FROM persons")[0][0] == 1
    assert upgraded.query("SELECT count(*) FROM person_duplicates")[0][0] == 0


def test_concurrent_pushes_with_one_idempotency_key_store_once_and_all_get_the_answer(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    """A retrying EHR can send the same request again before the first has committed: the
    second waits for the first and replays its answer (without the key lock, PostgreSQL let
    both store and then refused the second's receipt with a 503)."""
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "RETRY-1"}],
        "birthDate": "1990-09-09",
    }
    answers = race(
        8, lambda: _post_fhir(server, hospital, "/Patient", patient, **{"Idempotency-Key": "retry-1"})
    )
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.headers["location"] for a in answers}) == 1
    assert all(a.json()["identifier"] == patient["identifier"] for a in answers)
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 1

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {**patient, "identifier": [{"system": "urn:oid:1.2.3", "value": "RETRY-2"}]},
                "request": {"method": "POST", "url": "Patient"},
            }
        ],
    }
    answers = race(8, lambda: _post_fhir(server, hospital, "", bundle, **{"Idempotency-Key": "retry-2"}))
    assert [a.status_code for a in answers] == [200] * 8
    assert len({json.dumps(a.json(), sort_keys=True) for a in answers}) == 1
    assert upgraded.query("SELECT count(*) FROM envelopes")[0][0] == 2
