"""Witness cosigning end to end (reference/audit-log.md 2.6): the real `witness serve` process,
the gateway's publisher on SQLite and PostgreSQL, cosigned checkpoints served, exported and
required by `audit verify --witness`; a rolled-back or forked log is refused (T4, T8, T9)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from audit.checkpoint import parse_body, signature_lines
from audit.cosignature import CosignerKey, cosignatures
from gateway.flows.audit_log import AuditLog
from gateway.flows.audit_witness import WitnessEndpoint, WitnessPublisher
from gateway.flows.health import is_ready, readiness
from gateway.keyring import load_keyring
from gateway.services import audit_log
from gateway.settings import load_settings
from gateway.store.database import create_db_engine
from tests.builders.audit import push_record
from tests.conftest import CLI, Installation, free_port, migrate, start_server, stop_server

WITNESS_NAME = "witness.compliance.test"


@dataclass
class RunningWitness:
    url: str
    key: CosignerKey
    process: subprocess.Popen[str]
    directory: Path

    def latest_sizes(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.url}/", timeout=10).json()["latest_sizes"])


def _start_witness(installation: Installation, directory: Path, log_keys: list[str]) -> RunningWitness:
    init = [arg for key in log_keys for arg in ("--log", key)]
    key = CosignerKey.decode(
        installation.cli_ok("witness", "init", str(directory), "--name", WITNESS_NAME, *init)
    )
    port = free_port()
    process = subprocess.Popen(
        [CLI, "witness", "serve", str(directory), "--port", str(port)],
        env=installation.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/", timeout=1).status_code == 200:
                return RunningWitness(url, key, process, directory)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the witness did not start")


def _stop(witness: RunningWitness) -> None:
    witness.process.terminate()
    witness.process.wait(timeout=10)


@pytest.fixture
def log(upgraded: Installation) -> Iterator[AuditLog]:
    settings = load_settings(database_url=upgraded.database_url, keyring=upgraded.keyring)
    engine = create_db_engine(settings)
    try:
        yield audit_log(settings, load_keyring(upgraded.keyring), engine)
    finally:
        engine.dispose()


@pytest.fixture
def witness(upgraded: Installation, log: AuditLog, tmp_path: Path) -> Iterator[RunningWitness]:
    running = _start_witness(upgraded, tmp_path / "witness", [v.encode() for v in log.verifiers()])
    try:
        yield running
    finally:
        _stop(running)


def _grow(log: AuditLog, count: int, start: int = 0) -> int:
    for n in range(start, start + count):
        log.accept_now([push_record(n)])
    log.checkpoint()
    return log.head().size


def test_the_witness_cosigns_each_growth_and_verify_requires_its_cosignature(
    upgraded: Installation, log: AuditLog, witness: RunningWitness, tmp_path: Path
) -> None:
    publisher = WitnessPublisher(log, [WitnessEndpoint(witness.url, witness.key)])
    assert log.latest_note(cosigned=True) is None
    size = _grow(log, 6)
    assert publisher.publish() == {WITNESS_NAME: "ok"}
    cosigned = log.latest_note(cosigned=True)
    assert cosigned is not None
    assert parse_body(signature_lines(cosigned)[0]).size == size
    assert [c.witness for c in cosignatures(cosigned, [witness.key])] == [WITNESS_NAME]

    grown = _grow(log, 5, start=6)  # from 6 to 11: the witness checks a consistency proof
    assert publisher.publish() == {WITNESS_NAME: "ok"}
    assert witness.latest_sizes() == {log.origin: grown}
    assert log.witnessed_size(witness.key) == grown
    assert publisher.publish() == {WITNESS_NAME: "ok"}  # nothing new: nothing asked
    assert publisher.status() == "ok"

    bundle = tmp_path / "bundle"
    upgraded.cli_ok("audit", "export", str(bundle))
    verified = upgraded.cli("audit", "verify", str(bundle), "--witness", witness.key.encode())
    assert verified.returncode == 0, verified.stderr
    assert f"witnessed {grown} entries: cosigned by 1 of 1 witnesses" in verified.stdout
    other = CosignerKey("another.witness", bytes(32)).encode()
    short = upgraded.cli(
        "audit", "verify", str(bundle), "--witness", witness.key.encode(), "--witness", other, "--quorum", "2"
    )
    assert short.returncode == 1
    assert "no checkpoint is cosigned by 2 of the 2 witnesses" in short.stderr

    # a cosignature altered in the export is caught, not skipped
    checkpoints = (bundle / "checkpoints.json").read_text()
    line = cosignatures(cosigned, [witness.key])[0].line
    blob = line.split()[-1]
    forged = blob[:20] + ("A" if blob[20] != "A" else "B") + blob[21:]
    (bundle / "checkpoints.json").write_text(checkpoints.replace(blob, forged))
    tampered = upgraded.cli("audit", "verify", str(bundle), "--witness", witness.key.encode())
    assert tampered.returncode == 1
    assert "cosignature" in tampered.stderr


def test_the_witness_speaks_tlog_witness_statuses_over_http(log: AuditLog, witness: RunningWitness) -> None:
    _grow(log, 3)
    note = log.latest_note()
    assert note is not None
    first = httpx.post(f"{witness.url}/add-checkpoint", content=f"old 0\n\n{note}".encode(), timeout=10)
    assert first.status_code == 200
    assert first.text.startswith(f"\u2014 {WITNESS_NAME} ")
    stale = httpx.post(f"{witness.url}/add-checkpoint", content=f"old 0\n\n{note}".encode(), timeout=10)
    assert (stale.status_code, stale.text, stale.headers["content-type"]) == (409, "3\n", "text/x.tlog.size")
    assert httpx.post(f"{witness.url}/add-checkpoint", content=b"old x\n\n", timeout=10).status_code == 400
    foreign = note.replace(log.origin, "another.example/log", 1)
    assert (
        httpx.post(
            f"{witness.url}/add-checkpoint", content=f"old 0\n\n{foreign}".encode(), timeout=10
        ).status_code
        == 404
    )
    too_large = httpx.post(f"{witness.url}/add-checkpoint", content=b"x" * 20000, timeout=10)
    assert too_large.status_code == 400


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_rolled_back_or_forked_log_is_refused_and_a_rollback_fails_readiness(
    upgraded: Installation, log: AuditLog, witness: RunningWitness, tmp_path: Path
) -> None:
    publisher = WitnessPublisher(log, [WitnessEndpoint(witness.url, witness.key)])
    _grow(log, 10)
    assert publisher.publish() == {WITNESS_NAME: "ok"}

    # the same keyring over another database: a restored old backup of this log (T9), then
    # the same log regrown with other entries (a fork, T4)
    restored = migrate(Installation(root=upgraded.root, database_url=f"sqlite:///{tmp_path / 'restored.db'}"))
    settings = load_settings(database_url=restored.database_url, keyring=restored.keyring)
    engine = create_db_engine(settings)
    try:
        old_copy = audit_log(settings, load_keyring(restored.keyring), engine)
        assert old_copy.origin == log.origin
        rolled_back = WitnessPublisher(old_copy, [WitnessEndpoint(witness.url, witness.key)])
        _grow(old_copy, 4, start=100)
        assert rolled_back.publish() == {WITNESS_NAME: "ahead"}
        checks = readiness(engine, old_copy, rolled_back.status())
        assert checks["audit_witnesses"] == "ahead"
        assert not is_ready(checks)
        _grow(old_copy, 10, start=104)  # now larger than what the witness holds, but not an extension
        assert rolled_back.publish() == {WITNESS_NAME: "refused"}
        assert is_ready(readiness(engine, old_copy, rolled_back.status()))  # shown, not fatal
        assert old_copy.latest_note(cosigned=True) is None
    finally:
        engine.dispose()
    assert witness.latest_sizes() == {log.origin: 10}


def test_the_server_publishes_to_its_witnesses_and_serves_cosigned_checkpoints(
    upgraded: Installation, log: AuditLog, witness: RunningWitness
) -> None:
    _grow(log, 2)
    server = start_server(
        upgraded,
        CGW_AUDIT_WITNESSES=f"{witness.url} {witness.key.encode()}",
        CGW_AUDIT_WITNESS_INTERVAL="0.2",
    )
    try:
        deadline = time.monotonic() + 20
        answer = httpx.get(f"{server.base_url}/audit/checkpoint", params={"cosigned": "true"}, timeout=10)
        while answer.status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = httpx.get(f"{server.base_url}/audit/checkpoint", params={"cosigned": "true"}, timeout=10)
        assert answer.status_code == 200, server.log()
        assert [c.witness for c in cosignatures(answer.text, [witness.key])] == [WITNESS_NAME]
        ready = httpx.get(f"{server.base_url}/readyz", timeout=10).json()
        assert ready["checks"]["audit_witnesses"] == "ok"
        listed = httpx.get(f"{server.base_url}/audit/witnesses", timeout=10).json()
        assert listed == {"witnesses": [{"key": witness.key.encode(), "status": "ok"}]}
    finally:
        stop_server(server)


def test_a_malformed_witness_setting_is_refused_naming_it(upgraded: Installation) -> None:
    refused = upgraded.cli("serve", CGW_AUDIT_WITNESSES="http://witness.example not-a-key")
    assert refused.returncode != 0
    assert "CGW_AUDIT_WITNESSES" in refused.stderr
