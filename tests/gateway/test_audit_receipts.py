"""The reconciler (gateway/flows/audit_receipts.py): every record a process accepted must reach
the tree; one deleted from `audit_pending` before integration is reported, in process on both
backends and through a real server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from gateway.flows.audit_backlog import BacklogLimits
from gateway.flows.audit_log import AuditLog
from gateway.flows.audit_receipts import Receipts
from gateway.keyring import load_keyring
from gateway.settings import load_settings
from gateway.store.database import create_db_engine
from tests.builders.audit import forge_pending_row, push_record
from tests.builders.hl7 import Person, adt
from tests.builders.owner import as_database_owner
from tests.conftest import Installation, register_sender, start_server, stop_server


def test_receipts_fall_due_after_the_merge_delay_and_settle() -> None:
    now = [100.0]
    receipts = Receipts(60, clock=lambda: now[0])
    receipts.issued(["a", "b", "c"])
    now[0] += 30
    receipts.issued(["d"])
    assert receipts.due() == []
    now[0] += 31
    due = receipts.due()
    assert due == ["a", "b", "c"]
    assert receipts.settle(due, integrated={"a"}, pending={"b"}) == 1  # c is gone
    assert receipts.missing == 1
    assert receipts.due() == ["b"]  # still pending: due again at once
    assert receipts.outstanding() == 1  # d, not yet due
    now[0] += 30
    assert receipts.due() == ["d"]


@pytest.fixture
def engine(upgraded: Installation) -> Iterator[Engine]:
    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def log(engine: Engine, upgraded: Installation) -> AuditLog:
    """A log whose receipts fall due at once."""
    return AuditLog(
        engine=engine,
        keyring=load_keyring(upgraded.keyring),
        origin="test.example/receipts",
        backlog=BacklogLimits(max_merge_delay=0),
    )


def test_a_pending_record_deleted_before_integration_is_reported(
    engine: Engine, upgraded: Installation
) -> None:
    log = AuditLog(
        engine=engine,
        keyring=load_keyring(upgraded.keyring),
        origin="test.example/receipts",
        backlog=BacklogLimits(max_merge_delay=0),
    )
    log.accept_now([push_record(0), push_record(1)])

    def abandon() -> None:
        with engine.begin() as connection:
            log.accept(connection, [push_record(2)])
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        abandon()  # rolled back: no receipt
    with engine.begin() as connection:
        log.accept(connection, [push_record(3)])
    assert log.reconcile() == 0  # all three pending: checked again later
    assert log.receipts.outstanding() == 3
    assert log.integrate_all() == 3
    assert log.reconcile() == 0
    assert log.receipts.outstanding() == 0
    assert log.receipts_status() == "ok"

    log.accept_now([push_record(4), push_record(5)])
    with engine.begin() as connection:  # what a database insider can do to a pending row
        connection.execute(text("DELETE FROM audit_pending WHERE id = (SELECT min(id) FROM audit_pending)"))
    assert log.reconcile() == 1
    assert log.receipts_status() == "missing"
    assert log.receipts.outstanding() == 1  # the other one, still pending


def test_the_server_reports_a_vanished_record_and_stops_being_ready(upgraded: Installation) -> None:
    hospital = register_sender(upgraded, "st-marys")
    server = start_server(upgraded, CGW_AUDIT_INTERVAL="0.1", CGW_AUDIT_MAX_MERGE_DELAY="0.5")
    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    try:
        assert httpx.get(f"{server.base_url}/readyz", timeout=10).json()["checks"]["audit_receipts"] == "ok"
        forge_pending_row(engine)  # integration stops there
        person = Person(mrn="MRN-8", family="Quispe", given="Rosa", birth_date=date(1977, 3, 4))
        answer = httpx.post(
            f"{server.base_url}/hl7v2",
            content=adt(person, control_id="MSG-1").encode(),
            headers={**hospital.auth, "Content-Type": "x-application/hl7-v2+er7"},
            timeout=30,
        )
        assert "MSA|AA|" in answer.text
        with engine.begin() as connection:
            assert (
                connection.execute(text("DELETE FROM audit_pending WHERE record_id <> 'forged'")).rowcount
                == 1
            )
        deadline = time.monotonic() + 15
        while (ready := httpx.get(f"{server.base_url}/readyz", timeout=10)).status_code == 200:
            assert time.monotonic() < deadline, "the vanished record was never reported"
            time.sleep(0.2)
        assert ready.status_code == 503
        assert ready.json()["checks"]["audit_receipts"] == "missing"
        errors = [json.loads(line) for line in server.log().splitlines() if '"audit_records_missing"' in line]
        assert errors[0]["count"] == 1
        assert "\ncgw_audit_records_missing 1.0\n" in httpx.get(f"{server.base_url}/metrics", timeout=10).text
        assert "Quispe" not in server.log()
    finally:
        engine.dispose()
        stop_server(server)


def test_receipts_survive_a_failed_check(log: AuditLog, upgraded: Installation) -> None:
    """A check that cannot reach the database puts its receipts back, to be checked next time."""
    log.accept_now([push_record(0), push_record(1)])
    with as_database_owner(upgraded.database_url) as connection:  # the check's tables are gone for a moment
        connection.execute(text("ALTER TABLE audit_entries RENAME TO audit_entries_away"))
    with pytest.raises(SQLAlchemyError):
        log.reconcile()
    assert log.receipts.outstanding() == 2
    with as_database_owner(upgraded.database_url) as connection:
        connection.execute(text("ALTER TABLE audit_entries_away RENAME TO audit_entries"))
    assert log.integrate_all() == 2
    assert log.reconcile() == 0
    assert log.receipts.outstanding() == 0
    assert log.receipts_status() == "ok"
