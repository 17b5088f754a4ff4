"""Back-pressure on the audit log (gateway/flows/audit_backlog.py): when integration falls
behind the gateway warns, then refuses new records and says so on /readyz, in process and
through a real server whose integrator a tampered pending row has stopped."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, text

from audit.errors import AuditUnavailable
from gateway.flows.audit_backlog import BacklogLimits
from gateway.flows.audit_log import AuditLog
from gateway.keyring import load_keyring
from gateway.settings import load_settings
from gateway.store.database import create_db_engine
from tests.builders.audit import forge_pending_row, push_record
from tests.builders.hl7 import Person, adt
from tests.conftest import Installation, register_sender, start_server, stop_server


@pytest.fixture
def engine(upgraded: Installation) -> Iterator[Engine]:
    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    yield engine
    engine.dispose()


def audit_log(engine: Engine, installation: Installation, limits: BacklogLimits) -> AuditLog:
    keyring = load_keyring(installation.keyring)
    return AuditLog(engine=engine, keyring=keyring, origin="test.example/backlog", backlog=limits)


def pending(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM audit_pending")).scalar_one())


def test_past_the_refuse_limit_nothing_is_accepted_until_integration_catches_up(
    engine: Engine, upgraded: Installation
) -> None:
    log = audit_log(engine, upgraded, BacklogLimits(warn=2, refuse=4, recheck=0))
    for n in range(4):
        log.accept_now([push_record(n)])
    assert log.backlog_status() == "refusing"
    with pytest.raises(AuditUnavailable, match="too far behind"):
        log.accept_now([push_record(4)])
    with pytest.raises(AuditUnavailable), engine.begin() as connection:
        log.accept(connection, [push_record(5)])
    assert pending(engine) == 4  # the refused records were not written
    assert log.integrate_all() == 4
    assert log.backlog_status() == "ok"
    log.accept_now([push_record(6)])
    assert pending(engine) == 1


def test_behind_means_warned_but_still_accepting(engine: Engine, upgraded: Installation) -> None:
    log = audit_log(engine, upgraded, BacklogLimits(warn=2, refuse=10, recheck=0))
    log.accept_now([push_record(0)])
    assert log.backlog_status() == "ok"
    log.accept_now([push_record(1), push_record(2)])
    assert log.backlog_status() == "behind"
    log.accept_now([push_record(3)])
    assert pending(engine) == 4


def test_a_record_waiting_past_the_merge_delay_is_behind(engine: Engine, upgraded: Installation) -> None:
    now = [datetime(2026, 11, 24, 9, 0, tzinfo=UTC)]
    keyring = load_keyring(upgraded.keyring)
    log = AuditLog(
        engine=engine,
        keyring=keyring,
        origin="test.example/backlog",
        backlog=BacklogLimits(warn=100, refuse=200, max_merge_delay=60, recheck=0),
        clock=lambda: now[0],
    )
    log.accept_now([push_record(0)])
    now[0] += timedelta(seconds=59)
    assert log.backlog_status() == "ok"
    now[0] += timedelta(seconds=2)
    assert log.backlog_status() == "behind"
    log.integrate_all()
    assert log.backlog_status() == "ok"


def test_the_count_is_read_once_per_recheck_interval(engine: Engine, upgraded: Installation) -> None:
    """Between two reads the refuse limit can be passed: that is the price of one query a second."""
    log = audit_log(engine, upgraded, BacklogLimits(warn=1, refuse=2, recheck=3600))
    for n in range(5):
        log.accept_now([push_record(n)])
    assert pending(engine) == 5
    assert log.backlog_status() == "refusing"  # /readyz always reads afresh
    with pytest.raises(AuditUnavailable):
        log.accept_now([push_record(5)])


def test_a_stopped_integrator_makes_the_gateway_warn_then_refuse(upgraded: Installation) -> None:
    """A pending row that fails its hash check stops integration (on purpose: it was tampered
    with); records pile up behind it until the gateway refuses to go on."""
    hospital = register_sender(upgraded, "st-marys")
    server = start_server(
        upgraded, CGW_AUDIT_BACKLOG_WARN="2", CGW_AUDIT_BACKLOG_REFUSE="4", CGW_AUDIT_INTERVAL="0.05"
    )
    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    try:
        forge_pending_row(engine)  # integration stops there
        person = Person(mrn="MRN-7", family="Okafor", given="Ada", birth_date=date(1980, 5, 6))

        def push(n: int) -> str:
            return httpx.post(
                f"{server.base_url}/hl7v2",
                content=adt(person, control_id=f"MSG-{n}").encode(),
                headers={**hospital.auth, "Content-Type": "x-application/hl7-v2+er7"},
                timeout=30,
            ).text

        assert "MSA|AA|" in push(0)
        deadline = time.monotonic() + 20  # the backlog is counted once a second
        n = 1
        while "MSA|AE|" not in (answer := push(n)):
            assert "MSA|AA|" in answer
            assert time.monotonic() < deadline, "never refused"
            n += 1
        assert "resend later" in answer
        piled_up = pending(engine)
        assert piled_up > 4
        for m in range(n + 1, n + 4):  # refused from now on, and nothing more is written
            assert "MSA|AE|" in push(m)
        assert pending(engine) == piled_up
        ready = httpx.get(f"{server.base_url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["audit_log"] == "refusing"
        metrics = httpx.get(f"{server.base_url}/metrics", timeout=10).text
        gauge = next(line for line in metrics.splitlines() if line.startswith("cgw_audit_pending_records "))
        assert float(gauge.split()[1]) == piled_up
        warnings = [json.loads(line) for line in server.log().splitlines() if '"audit_backlog"' in line]
        assert warnings
        assert warnings[0]["status"] in {"behind", "refusing"}
        assert warnings[0]["count"] >= 2
        assert warnings[0]["oldest_seconds"] >= 0
        assert "Okafor" not in server.log()
    finally:
        engine.dispose()
        stop_server(server)
