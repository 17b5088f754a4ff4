"""Canary test (DESIGN.md 9): names, birth dates and record numbers pushed through every ingest
path appear nowhere readable afterwards: not in the database files (WAL included), not in the logs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
from sqlalchemy import inspect, text

from gateway.settings import load_settings
from gateway.store.database import create_db_engine
from tests.builders.hl7 import Person, adt
from tests.conftest import Installation, Server, register_sender
from tests.gateway.test_mllp import MllpClient

CANARIES = {
    "http": Person(
        mrn="CANARYMRN1111", family="Canaryhttp", given="Tweetyhttp", birth_date=date(1961, 7, 19)
    ),
    "mllp": Person(
        mrn="CANARYMRN2222", family="Canarymllp", given="Tweetymllp", birth_date=date(1962, 8, 21)
    ),
}
FHIR_CANARY = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "CANARYMRN3333"}],
    "name": [{"family": "Canaryfhir", "given": ["Tweetyfhir"]}],
    "birthDate": "1963-09-23",
    "telecom": [{"system": "phone", "value": "555-0199-CANARY"}],
}
NEEDLES = [
    b"CANARYMRN",
    b"Canary",
    b"Tweety",
    b"1961-07-19",
    b"19610719",
    b"19620821",
    b"1963-09-23",
    b"555-0199",
]


def database_text(installation: Installation) -> bytes:
    """Everything the database holds, as bytes: the files for SQLite, every row for PostgreSQL."""
    url = load_settings(database_url=installation.database_url).database
    if url.drivername.startswith("sqlite"):
        assert url.database is not None
        return b"".join(p.read_bytes() for p in Path(url.database).parent.glob(Path(url.database).name + "*"))
    engine = create_db_engine(load_settings(database_url=installation.database_url))
    try:
        dump = []
        with engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                dump += [str(row).encode() for row in connection.execute(text(f'SELECT * FROM "{table}"'))]
        return b"\n".join(dump)
    finally:
        engine.dispose()


def test_canaries_pushed_through_every_path_are_nowhere_readable(
    server: Server, upgraded: Installation
) -> None:
    hospital = register_sender(upgraded)
    http = httpx.post(
        f"{server.base_url}/hl7v2",
        headers=hospital.auth,
        timeout=30,
        content=adt(CANARIES["http"], control_id="CAN-1").encode(),
    )
    assert b"MSA|AA|" in http.content
    client = MllpClient(server.mllp_port)
    try:
        client.send(adt(CANARIES["mllp"], control_id="CAN-2", secret=hospital.mllp_secret).encode())
        assert b"MSA|AA|" in client.ack()
        client.send(
            adt(CANARIES["mllp"], control_id="CAN-3", version="9.9", secret=hospital.mllp_secret).encode()
        )
        assert b"MSA|AR|" in client.ack()  # a rejected message must not leak either
    finally:
        client.close()
    fhir = httpx.post(
        f"{server.base_url}/fhir/r4/Patient",
        headers={**hospital.auth, "Idempotency-Key": "canary-1"},  # a receipt is kept for replays
        content=json.dumps(FHIR_CANARY),
        timeout=30,
    )
    assert fhir.status_code == 201
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:6f1e2a60-0000-4000-8000-0000000000ca",
                "resource": {
                    **FHIR_CANARY,
                    "identifier": [{"system": "urn:oid:1.2.3", "value": "CANARYMRN4444"}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "CareTeam",
                    "name": "Canary crisis team",
                    "subject": {"reference": "urn:uuid:6f1e2a60-0000-4000-8000-0000000000ca"},
                    "telecom": [{"system": "phone", "value": "555-0199-CANARY"}],
                },
                "request": {"method": "POST", "url": "CareTeam"},
            },
        ],
    }
    transaction = httpx.post(
        f"{server.base_url}/fhir/r4",
        headers={**hospital.auth, "Idempotency-Key": "canary-2"},
        content=json.dumps(bundle),
        timeout=30,
    )
    assert transaction.status_code == 200
    bad = httpx.post(
        f"{server.base_url}/fhir/r4/Patient",
        headers=hospital.auth,
        timeout=30,
        content=json.dumps({**FHIR_CANARY, "birthDate": "Canary-not-a-date"}),
    )
    assert bad.status_code == 400
    assert b"Canary" not in bad.content, "an OperationOutcome never echoes the input"
    httpx.get(f"{server.base_url}/whoami?family=Canaryquery&birthdate=1961-07-19", headers=hospital.auth)

    stored = database_text(upgraded)
    assert stored, "the database was read"
    assert b"ghh" in stored, "the dump holds the rows (a sanity check that the search can succeed)"
    log = server.log().encode()
    for needle in NEEDLES:
        assert needle not in stored, f"{needle!r} found in the database"
        assert needle not in log, f"{needle!r} found in the log"
