"""The audit log through a real server on SQLite and PostgreSQL: one record per decision and
person on every request type, compliance queries (decided and themselves audited), public
checkpoints and proofs, export and offline verification, tampering in the database, a crash
mid-burst, and two gateway processes sharing one log."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from sqlalchemy import text

from audit.checkpoint import NoteVerifier, open_note
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from gateway.keyring import load_keyring
from gateway.services import audit_log
from gateway.settings import load_settings
from gateway.store.audit import INTEGRATOR_LOCK
from gateway.store.database import create_db_engine
from tests.builders.audit import push_record
from tests.builders.consent import consent, recipient_class
from tests.builders.hl7 import Person, adt
from tests.builders.owner import as_database_owner
from tests.conftest import Installation, Server, add_client, register_sender, start_server, stop_server

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"
ALEX = Person(mrn="MRN-91", family="Oyelaran", given="Temitope", birth_date=date(1979, 2, 3))
CANARY = "Oyelaran"


def _hl7(server: Server, auth: dict[str, str], person: Person, control_id: str) -> httpx.Response:
    recent = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y%m%d%H%M%S")
    return httpx.post(
        f"{server.base_url}/hl7v2",
        content=adt(person, control_id=control_id, at=recent).encode(),
        headers={**auth, "Content-Type": "x-application/hl7-v2+er7"},
        timeout=30,
    )


def _checkpoint(installation: Installation) -> str:
    return installation.admin("audit", "checkpoint")


def _entries(server: Server, auth: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.base_url}/audit/entries", params=params, headers=auth, timeout=30)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["entries"])


@pytest.fixture
def compliance(upgraded: Installation) -> dict[str, str]:
    upgraded.admin("org", "add", "compliance", "--name", "County compliance office", "--type", "compliance")
    return add_client(
        upgraded, "compliance", "compliance-app", "compliance_officer", "privacy.officer", "--mfa"
    )


def test_every_request_type_leaves_one_record_per_decision_and_person(
    upgraded: Installation, server: Server, compliance: dict[str, str]
) -> None:
    hospital = register_sender(upgraded, "st-marys")
    police = register_sender(upgraded, "pd-springfield", org_type="police")
    upgraded.admin("org", "add", "co-team", "--name", "Co-responders", "--type", "co_responder_team")
    clinician = add_client(
        upgraded, "co-team", "co-team-app", "coresponder_clinician", "clin.rivera", "--mfa"
    )

    assert "MSA|AA|" in _hl7(server, hospital.auth, ALEX, "MSG-1").text
    assert "MSA|AA|" in _hl7(server, hospital.auth, ALEX, "MSG-1").text  # a redelivery
    refused = _hl7(server, police.auth, ALEX, "MSG-2")  # police may not push records
    assert "MSA|AR|" in refused.text
    person_id = upgraded.query("SELECT person_id FROM envelopes")[0][0]
    recorded = httpx.post(
        f"{server.base_url}/fhir/r4/Consent",
        content=json.dumps(
            consent(
                {"identifier": {"system": MRN_SYSTEM, "value": ALEX.mrn}},
                recipients=[recipient_class("co_responder_team")],
            )
        ).encode(),
        headers={**hospital.auth, "Content-Type": "application/fhir+json"},
        timeout=30,
    )
    assert recorded.status_code == 201, recorded.text
    summary = httpx.get(
        f"{server.base_url}/fhir/r4/Patient/{person_id}/$summary", headers=clinician, timeout=30
    )
    assert summary.status_code == 200, summary.text
    _checkpoint(upgraded)

    records = [e["record"] for e in _entries(server, compliance, person=person_id)]
    pushes = [r for r in records if r["action"] == "push_record"]
    assert [(r["decision"], r["outcome"]) for r in pushes] == [("permit", "stored")]
    lookups = [r for r in records if r["action"] == "lookup_record"]
    assert len(lookups) == 1
    assert lookups[0]["requester"] == {"org": "co-team", "client": "co-team-app", "user": "clin.rivera"}
    assert lookups[0]["outcome"] == "disclosed"
    assert lookups[0]["reasons"]
    assert lookups[0]["policy_version"].startswith("sha256:")
    assert [r["action"] for r in records].count("manage_consent") == 1
    _checkpoint(upgraded)  # integrate the compliance officer's own read just made
    everyone = [e["record"] for e in _entries(server, compliance, limit=500)]
    assert [
        (r["action"], r["outcome"])
        for r in everyone
        if r["person_id"] is None and r["action"] == "push_record"
    ] == [
        ("push_record", "replayed"),
        ("push_record", "refused"),
    ]
    refusal = next(r for r in everyone if r["outcome"] == "refused")
    assert (refusal["decision"], refusal["requester"]["org"]) == ("deny", "pd-springfield")
    # the compliance officer's own reads are in the log too
    assert any(
        r["kind"] == "access.audit-read" and r["requester"]["user"] == "privacy.officer" for r in everyone
    )
    assert all(CANARY not in json.dumps(r) for r in everyone)
    record_ids = [row[0] for row in upgraded.query("SELECT record_id FROM audit_entries")]
    assert {uuid.UUID(r).version for r in record_ids} == {7}  # appended at their index's end


def test_only_compliance_officers_read_the_log_and_a_refusal_is_recorded(
    upgraded: Installation, server: Server, compliance: dict[str, str]
) -> None:
    upgraded.admin("org", "add", "co-team", "--name", "Co-responders", "--type", "co_responder_team")
    clinician = add_client(
        upgraded, "co-team", "co-team-app", "coresponder_clinician", "clin.rivera", "--mfa"
    )
    denied = httpx.get(f"{server.base_url}/audit/entries", headers=clinician, timeout=30)
    assert denied.status_code == 403
    assert "AUDIT-ACCESS" in denied.text
    wrong_purpose = httpx.get(
        f"{server.base_url}/audit/entries", headers={**compliance, "X-Purpose-Of-Use": "TREAT"}, timeout=30
    )
    assert wrong_purpose.status_code == 403
    _checkpoint(upgraded)
    records = [e["record"] for e in _entries(server, compliance)]
    refusals = [r for r in records if r["action"] == "query_audit" and r["decision"] == "deny"]
    assert sorted(r["requester"]["user"] for r in refusals) == ["clin.rivera", "privacy.officer"]


def test_accounting_of_disclosures_json_html_and_audit_events(
    upgraded: Installation, server: Server, compliance: dict[str, str]
) -> None:
    hospital = register_sender(upgraded, "st-marys")
    upgraded.admin("org", "add", "co-team", "--name", "Co-responders", "--type", "co_responder_team")
    clinician = add_client(
        upgraded, "co-team", "co-team-app", "coresponder_clinician", "clin.rivera", "--mfa"
    )
    assert "MSA|AA|" in _hl7(server, hospital.auth, ALEX, "MSG-1").text
    person_id = upgraded.query("SELECT person_id FROM envelopes")[0][0]
    for _ in range(2):
        assert (
            httpx.get(
                f"{server.base_url}/fhir/r4/Patient/{person_id}/$summary", headers=clinician, timeout=30
            ).status_code
            == 200
        )
    _checkpoint(upgraded)

    report = httpx.get(
        f"{server.base_url}/audit/accounting/{person_id}", headers=compliance, timeout=30
    ).json()
    assert len(report["disclosures"]) == 2
    first = report["disclosures"][0]
    assert first["recipient"]["name"] == "Co-responders"
    assert first["purpose"] == "TREAT"
    assert first["legal_basis"]
    assert all(b["citation"] for b in first["legal_basis"])
    assert "mental health" in first["description"] or "health information" in first["description"]
    assert first["columns_match"] is True

    page = httpx.get(
        f"{server.base_url}/audit/accounting/{person_id}",
        params={"format": "html"},
        headers=compliance,
        timeout=30,
    )
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.count("<tr><td>") == 2
    assert "Co-responders" in page.text

    events = httpx.get(
        f"{server.base_url}/fhir/r4/AuditEvent",
        params={"patient": f"Patient/{person_id}"},
        headers=compliance,
        timeout=30,
    ).json()
    assert events["type"] == "searchset"
    parsed = [AuditEvent.model_validate(e["resource"]) for e in events["entry"]]
    assert {e.action for e in parsed} >= {"C", "R"}
    assert all(e.entity and e.entity[0].what.reference == f"Patient/{person_id}" for e in parsed)


def test_checkpoints_and_proofs_verify_with_the_published_key(upgraded: Installation, server: Server) -> None:
    hospital = register_sender(upgraded, "st-marys")
    for n in range(5):
        person = Person(mrn=f"MRN-{n}", family="Test", given=f"P{n}", birth_date=date(1990, 1, n + 1))
        assert "MSA|AA|" in _hl7(server, hospital.auth, person, f"M{n}").text
    first_note = _checkpoint(upgraded)
    assert "MSA|AA|" in _hl7(server, hospital.auth, ALEX, "M9").text
    second_note = _checkpoint(upgraded)

    keys = httpx.get(f"{server.base_url}/audit/keys", timeout=30).json()
    verifiers = [NoteVerifier.decode(k) for k in keys["verifier_keys"]]
    latest = httpx.get(f"{server.base_url}/audit/checkpoint", timeout=30).text
    assert latest == second_note
    first = open_note(first_note, verifiers, origin=keys["origin"]).checkpoint
    second = open_note(latest, verifiers, origin=keys["origin"]).checkpoint
    assert (first.size, second.size) == (5, 6)

    leaves = upgraded.query("SELECT idx, leaf FROM audit_entries ORDER BY idx")
    for index, leaf in leaves:
        proof = httpx.get(
            f"{server.base_url}/audit/proof/inclusion",
            params={"index": index, "size": second.size},
            timeout=30,
        ).json()
        hashes = [base64.b64decode(h) for h in proof["hashes"]]
        assert verify_inclusion(leaf_hash(bytes(leaf)), index, second.size, hashes, second.root)
    consistency = httpx.get(
        f"{server.base_url}/audit/proof/consistency",
        params={"from": first.size, "to": second.size},
        timeout=30,
    ).json()
    hashes = [base64.b64decode(h) for h in consistency["hashes"]]
    assert verify_consistency(first.size, second.size, first.root, second.root, hashes)
    assert (
        httpx.get(
            f"{server.base_url}/audit/proof/inclusion", params={"index": 6, "size": 6}, timeout=30
        ).status_code
        == 400
    )
    assert (
        httpx.get(
            f"{server.base_url}/audit/proof/consistency", params={"from": 2, "to": 99}, timeout=30
        ).status_code
        == 400
    )


def _bypass_triggers(installation: Installation, statements: list[str]) -> None:
    """What a DBA can do: switch the append-only barrier off and rewrite rows."""
    with as_database_owner(installation.database_url) as connection:
        if connection.dialect.name == "sqlite":
            for table in ("audit_entries", "audit_nodes", "audit_checkpoints"):
                for event in ("update", "delete"):
                    connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{event}"))
        for statement in statements:
            connection.execute(text(statement))


def _seeded_log(installation: Installation, count: int, org_id: str = "st-marys") -> None:
    """A log of `count` push records with checkpoints every 4 entries, written in process through
    the gateway's own AuditLog (what a server does, without the time a server takes to start)."""
    settings = load_settings(database_url=installation.database_url, keyring=installation.keyring)
    engine = create_db_engine(settings)
    try:
        log = audit_log(settings, load_keyring(installation.keyring), engine)
        for n in range(count):
            log.accept_now([push_record(n, org_id)])
            if n % 4 == 3:
                log.integrate_all()
        log.checkpoint()
    finally:
        engine.dispose()


def _verify(installation: Installation, bundle: Path) -> subprocess.CompletedProcess[str]:
    installation.cli_ok("audit", "export", str(bundle))
    return installation.cli("audit", "verify", str(bundle))


@pytest.mark.parametrize(
    ("attack", "statements", "first_bad"),
    [
        (
            "one changed byte",
            ["UPDATE audit_entries SET leaf = REPLACE(leaf, 'push_record', 'push_recorx') WHERE idx = 5"],
            "index 5",
        ),
        ("a deleted row", ["DELETE FROM audit_entries WHERE idx = 6"], "index 6"),
        (
            "two swapped rows",
            [
                "UPDATE audit_entries SET idx = 100 WHERE idx = 2",
                "UPDATE audit_entries SET idx = 2 WHERE idx = 3",
                "UPDATE audit_entries SET idx = 3 WHERE idx = 100",
            ],
            "index <=2",  # a consistent rewrite: the first checkpoint range that no longer matches
        ),
        ("a truncated tail", ["DELETE FROM audit_entries WHERE idx >= 9"], "index 9"),
    ],
)
def test_tampering_in_the_database_fails_offline_verification_naming_the_index(
    upgraded: Installation, tmp_path: Path, attack: str, statements: list[str], first_bad: str
) -> None:
    _seeded_log(upgraded, 12)
    clean = _verify(upgraded, tmp_path / "clean")
    assert clean.returncode == 0, clean.stderr
    assert "12 entries" in clean.stdout
    if upgraded.database_url.startswith("sqlite"):
        statements = [
            s.replace(
                "REPLACE(leaf, 'push_record', 'push_recorx')",
                "CAST(REPLACE(CAST(leaf AS TEXT), 'push_record', 'push_recorx') AS BLOB)",
            )
            for s in statements
        ]
    else:
        statements = [
            s.replace(
                "REPLACE(leaf, 'push_record', 'push_recorx')",
                "convert_to(replace(convert_from(leaf, 'UTF8'), 'push_record', 'push_recorx'), 'UTF8')",
            )
            for s in statements
        ]
    _bypass_triggers(upgraded, statements)
    tampered = _verify(upgraded, tmp_path / "tampered")
    assert tampered.returncode == 1, (attack, tampered.stdout)
    named = re.match(r"FAIL index (\d+):", tampered.stderr)
    assert named, tampered.stderr
    if first_bad.startswith("index <="):
        assert int(named.group(1)) <= int(first_bad.removeprefix("index <=")), (attack, tampered.stderr)
    else:
        assert f"FAIL {first_bad}:" in tampered.stderr, (attack, tampered.stderr)


def test_a_forked_tail_and_a_foreign_key_are_caught(upgraded: Installation, tmp_path: Path) -> None:
    _seeded_log(upgraded, 8)
    bundle = tmp_path / "bundle"
    upgraded.cli_ok("audit", "export", str(bundle))
    checkpoints = json.loads((bundle / "checkpoints.json").read_text())
    other_key = NoteVerifier("someone-else", bytes(32)).encode()
    foreign = upgraded.cli("audit", "verify", str(bundle), "--key", other_key)
    assert foreign.returncode == 1
    assert "no signature by a trusted key" in foreign.stderr
    # replace the last three leaves with another history, keeping the (old) checkpoints
    lines = (bundle / "leaves.jsonl").read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b'"outcome":"stored"', b'"outcome":"forged"')
    (bundle / "leaves.jsonl").write_bytes(b"\n".join(lines))
    (bundle / "leaf_hashes.txt").write_text(
        "".join(f"{i} {leaf_hash(leaf).hex()}\n" for i, leaf in enumerate(lines[:-1]))
    )
    forked = upgraded.cli("audit", "verify", str(bundle))
    assert forked.returncode == 1
    assert "FAIL index 4" in forked.stderr, (checkpoints, forked.stderr)


def test_the_audit_tables_refuse_updates_and_deletes(upgraded: Installation) -> None:
    _seeded_log(upgraded, 2)
    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    try:
        for statement in (
            "UPDATE audit_entries SET kind = 'x'",
            "DELETE FROM audit_entries",
            "DELETE FROM audit_checkpoints",
            "UPDATE audit_nodes SET hash = hash",
            "DELETE FROM audit_head",
        ):
            # PostgreSQL: the triggers; SQLite: the authorizer first (gateway/store/guard.py)
            with pytest.raises(Exception, match=r"append-only|not authorized"), engine.begin() as connection:
                connection.execute(text(statement))
    finally:
        engine.dispose()
    assert upgraded.query("SELECT count(*) FROM audit_entries")[0][0] == 2


def test_verify_over_http_with_a_compliance_token(
    upgraded: Installation, server: Server, compliance: dict[str, str]
) -> None:
    hospital = register_sender(upgraded, "st-marys")
    assert "MSA|AA|" in _hl7(server, hospital.auth, ALEX, "M1").text
    _checkpoint(upgraded)
    token = compliance["Authorization"].removeprefix("Bearer ")
    result = upgraded.cli("audit", "verify", "--url", server.base_url, "--token", token)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("trusted key ")


def test_a_crash_mid_burst_loses_no_acknowledged_record(upgraded: Installation, tmp_path: Path) -> None:
    server = start_server(upgraded)
    hospital = register_sender(upgraded, "st-marys")
    acked: list[str] = []
    lock = threading.Lock()

    def sender(worker: int) -> None:
        for n in range(200):
            person = Person(mrn=f"W{worker}-{n}", family="Burst", given="X", birth_date=date(1980, 1, 1))
            try:
                answer = _hl7(server, hospital.auth, person, f"W{worker}-{n}")
            except httpx.HTTPError:
                return
            if "MSA|AA|" in answer.text:
                with lock:
                    acked.append(f"W{worker}-{n}")

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    while len(acked) < 40:
        threading.Event().wait(0.05)
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    for thread in threads:
        thread.join()
    assert len(acked) >= 40
    restarted = start_server(upgraded)
    try:
        _checkpoint(upgraded)
    finally:
        stop_server(restarted)
    stored = upgraded.query("SELECT count(*) FROM envelopes")[0][0]
    records = upgraded.query("SELECT leaf FROM audit_entries")
    pushes = [json.loads(bytes(leaf)) for (leaf,) in records]
    stored_records = [r for r in pushes if r["action"] == "push_record" and r["outcome"] == "stored"]
    assert len(stored_records) == stored >= len(acked)
    assert upgraded.query("SELECT count(*) FROM audit_pending")[0][0] == 0
    result = _verify(upgraded, tmp_path / "after-crash")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("backend", ["postgresql"])  # several processes share a log on PostgreSQL only
def test_two_gateway_processes_share_one_gapless_log(upgraded: Installation, tmp_path: Path) -> None:
    first, second = start_server(upgraded), start_server(upgraded)
    hospital = register_sender(upgraded, "st-marys")
    try:

        def sender(worker: int) -> None:
            target = first if worker % 2 else second
            for n in range(25):
                person = Person(mrn=f"C{worker}-{n}", family="Two", given="Y", birth_date=date(1985, 1, 1))
                assert "MSA|AA|" in _hl7(target, hospital.auth, person, f"C{worker}-{n}").text

        threads = [threading.Thread(target=sender, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop_server(first)
        stop_server(second)
    _checkpoint(upgraded)
    indices = [row[0] for row in upgraded.query("SELECT idx FROM audit_entries ORDER BY idx")]
    assert indices == list(range(150))
    result = _verify(upgraded, tmp_path / "shared")
    assert result.returncode == 0, result.stderr
    assert "150 entries" in result.stdout


def test_a_rotated_checkpoint_key_keeps_old_checkpoints_verifiable(
    upgraded: Installation, tmp_path: Path
) -> None:
    _seeded_log(upgraded, 3)
    old_note = _checkpoint(upgraded)
    upgraded.cli_ok("keys", "rotate", "--audit")
    _seeded_log(upgraded, 2, "general-hospital")
    new_note = _checkpoint(upgraded)
    assert old_note.rsplit(" ", 1)[1][:8] != new_note.rsplit(" ", 1)[1][:8]  # another key id signs
    result = _verify(upgraded, tmp_path / "rotated")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("trusted key ") == 2
    only_old = result.stdout.splitlines()[0].removeprefix("trusted key ")
    partial = upgraded.cli("audit", "verify", str(tmp_path / "rotated"), "--key", only_old)
    assert partial.returncode == 1  # the new checkpoints carry no signature the old key verifies
    assert "no signature by a trusted key" in partial.stderr


def test_a_keyring_from_before_the_audit_log_is_told_how_to_get_a_checkpoint_key(
    upgraded: Installation,
) -> None:
    from dataclasses import replace

    from gateway.keyring import save_keyring

    keyring = load_keyring(upgraded.keyring)
    older = replace(keyring, signing_keys=tuple(k for k in keyring.signing_keys if k.purpose != "audit"))
    save_keyring(older, upgraded.keyring, None)
    refused = upgraded.cli("audit", "checkpoint")
    assert refused.returncode == 2
    assert "keys rotate --audit" in refused.stderr
    upgraded.cli_ok("keys", "rotate", "--audit")
    assert upgraded.cli_ok("audit", "checkpoint").split("\n")[1] == "0"  # the empty log's size


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_forced_checkpoint_waits_for_another_integrator_and_covers_what_was_accepted(
    upgraded: Installation,
) -> None:
    """`audit checkpoint` beside a running server: the server's integrator may hold the lock at
    that moment; the checkpoint must still cover every record accepted before it was asked."""
    settings = load_settings(database_url=upgraded.database_url, keyring=upgraded.keyring)
    engine = create_db_engine(settings)
    try:
        log = audit_log(settings, load_keyring(upgraded.keyring), engine)
        log.accept_now([push_record(0)])
        with engine.connect() as holder:  # another process's integrator, mid-transaction
            holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INTEGRATOR_LOCK})
            notes: list[str] = []
            waiting = threading.Thread(target=lambda: notes.append(log.checkpoint()))
            waiting.start()
            waiting.join(timeout=0.5)
            assert waiting.is_alive()  # it waits rather than signing the size before the record
            holder.rollback()  # the lock is released
        waiting.join(timeout=15)
        assert notes
        assert open_note(notes[0], log.verifiers()).checkpoint.size == 1
    finally:
        engine.dispose()
