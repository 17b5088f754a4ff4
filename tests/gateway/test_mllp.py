"""MLLP over real sockets: framing, concurrency, dropped connections, oversize frames, restarts."""

from __future__ import annotations

import socket
import threading
import time
from datetime import date

import pytest
from sqlalchemy import text

from connectors.hl7v2.mllp import Frame, FrameDecoder, encode
from gateway.settings import load_settings
from gateway.store.database import create_db_engine
from tests.builders.hl7 import Person, adt
from tests.conftest import (
    Hospital,
    Installation,
    Server,
    free_port,
    register_sender,
    start_server,
    stop_server,
)

JANE = Person(mrn="MRN-200", family="Doe", given="Jane", birth_date=date(1980, 2, 3))


@pytest.fixture
def hospital(upgraded: Installation) -> Hospital:
    return register_sender(upgraded)


class MllpClient:
    """A minimal sending interface engine: send a frame, wait for its ACK."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.decoder = FrameDecoder(max_frame_bytes=1 << 20)
        self.pending: list[bytes] = []

    def send(self, payload: bytes) -> None:
        self.sock.sendall(encode(payload))

    def ack(self) -> bytes:
        while not self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.pending += [f.data for f in self.decoder.feed(chunk) if isinstance(f, Frame)]
        return self.pending.pop(0)

    def close(self) -> None:
        self.sock.close()


def _count(installation: Installation, sql: str = "SELECT count(*) FROM envelopes") -> int:
    return int(installation.query(sql)[0][0])


def _message(hospital: Hospital, control_id: str, person: Person = JANE) -> bytes:
    return adt(person, control_id=control_id, secret=hospital.mllp_secret).encode()


def test_many_messages_on_one_connection_are_acknowledged_in_order(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    client = MllpClient(server.mllp_port)
    try:
        for n in range(50):
            client.send(_message(hospital, f"SEQ-{n}"))
        acks = [client.ack() for _ in range(50)]
    finally:
        client.close()
    assert [a.split(b"\r")[1] for a in acks] == [f"MSA|AA|SEQ-{n}|".encode() for n in range(50)]
    assert _count(upgraded) == 50


def test_concurrent_senders_all_land(server: Server, upgraded: Installation, hospital: Hospital) -> None:
    failures: list[str] = []

    def sender(worker: int) -> None:
        client = MllpClient(server.mllp_port)
        try:
            for n in range(25):
                person = Person(
                    mrn=f"W{worker}-{n}",
                    family="Roe",
                    given="Pat" + "ABCD"[worker] + chr(65 + n),
                    birth_date=date(1990, 1, 1 + n),
                )
                client.send(_message(hospital, f"C{worker}-{n}", person))
                if b"MSA|AA|" not in client.ack():
                    failures.append(f"{worker}-{n}")
        finally:
            client.close()

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert _count(upgraded) == 100
    assert _count(upgraded, "SELECT count(*) FROM persons") == 100


def test_connection_killed_mid_frame_stores_nothing_and_the_next_message_is_fine(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    broken = socket.create_connection(("127.0.0.1", server.mllp_port), timeout=10)
    frame = encode(_message(hospital, "HALF-1"))
    broken.sendall(frame[: len(frame) // 2])  # no end block: the sender dies mid-frame
    broken.close()
    client = MllpClient(server.mllp_port)
    try:
        client.send(_message(hospital, "WHOLE-1"))
        assert b"MSA|AA|WHOLE-1|" in client.ack()
    finally:
        client.close()
    assert _count(upgraded) == 1
    assert _count(upgraded, "SELECT count(*) FROM envelopes WHERE message_id = 'HALF-1'") == 0


def test_a_50_mb_frame_gets_a_reject_and_the_connection_stays_usable(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    client = MllpClient(server.mllp_port)
    try:
        huge = _message(hospital, "HUGE-1") + b"\rNTE|1||" + b"x" * (50 * 1024 * 1024)
        client.send(huge)
        reject = client.ack()
        assert b"MSA|AR|" in reject
        assert b"exceeds" in reject
        client.send(_message(hospital, "AFTER-1"))
        assert b"MSA|AA|AFTER-1|" in client.ack()
    finally:
        client.close()
    assert _count(upgraded) == 1


def test_unknown_or_missing_secret_is_rejected_and_nothing_stored(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    client = MllpClient(server.mllp_port)
    try:
        client.send(adt(JANE, control_id="NOAUTH-1", secret="guessed-secret").encode())
        assert b"MSA|AR|NOAUTH-1|sender is not authenticated" in client.ack()
        client.send(adt(JANE, control_id="NOAUTH-2").encode())
        assert b"MSA|AR|NOAUTH-2|" in client.ack()
        client.send(b"\x00\x01 binary junk \xff")
        assert b"MSA|AR|" in client.ack()
    finally:
        client.close()
    assert _count(upgraded) == 0


def test_the_stored_payload_never_holds_the_secret(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    from gateway.crypto import open_sealed
    from gateway.keyring import load_keyring

    client = MllpClient(server.mllp_port)
    try:
        client.send(_message(hospital, "SECRET-1"))
        assert b"MSA|AA|" in client.ack()
    finally:
        client.close()
    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    try:
        with engine.connect() as connection:
            envelope_id, sealed = connection.execute(
                text("SELECT envelope_id, payload_sealed FROM envelopes")
            ).one()
    finally:
        engine.dispose()
    payload = open_sealed(load_keyring(upgraded.keyring), bytes(sealed), associated_data=envelope_id.encode())
    assert hospital.mllp_secret.encode() not in payload
    assert payload.split(b"\r")[0].split(b"|")[7] == b""
    assert b"PID|1||MRN-200" in payload


def test_acknowledged_messages_survive_a_restart(upgraded: Installation, hospital: Hospital) -> None:
    mllp_port = str(free_port())
    first = start_server(upgraded, CGW_MLLP_PORT=mllp_port)
    try:
        client = MllpClient(first.mllp_port)
        for n in range(5):
            client.send(_message(hospital, f"R-{n}"))
            assert b"MSA|AA|" in client.ack()
        client.close()
    finally:
        first.process.kill()  # no graceful shutdown: what was acknowledged must already be durable
        first.process.wait()
    second = start_server(upgraded, CGW_MLLP_PORT=mllp_port)
    try:
        client = MllpClient(second.mllp_port)
        client.send(_message(hospital, "R-4"))  # a redelivery after the restart
        assert b"MSA|AA|R-4|" in client.ack()
        client.send(_message(hospital, "R-5"))
        assert b"MSA|AA|R-5|" in client.ack()
        client.close()
    finally:
        stop_server(second)
    assert _count(upgraded) == 6


def test_worker_processes_share_the_port_and_leave_with_the_gateway(
    upgraded: Installation, hospital: Hospital
) -> None:
    mllp_port = str(free_port())
    first = start_server(upgraded, CGW_MLLP_PORT=mllp_port, CGW_MLLP_WORKERS="2")
    try:
        clients = [MllpClient(first.mllp_port) for _ in range(4)]
        for n, client in enumerate(clients):
            client.send(
                _message(
                    hospital,
                    f"WK-{n}",
                    Person(
                        mrn=f"WK{n}", family="Worker", given="Wen" + "ABCD"[n], birth_date=date(1980, 1, 1)
                    ),
                )
            )
        assert all(b"MSA|AA|" in client.ack() for client in clients)
        for client in clients:
            client.close()
    finally:
        first.process.kill()  # kill -9: the workers must notice and free the port themselves
        first.process.wait()
    assert _count(upgraded) == 4
    _wait_until_free(int(mllp_port))  # the workers leave with their gateway; a supervisor waits likewise
    second = start_server(upgraded, CGW_MLLP_PORT=mllp_port)
    try:
        client = MllpClient(second.mllp_port)
        client.send(_message(hospital, "WK-AFTER"))
        assert b"MSA|AA|WK-AFTER|" in client.ack()
        client.close()
    finally:
        stop_server(second)


def _wait_until_free(port: int, timeout: float = 5.0) -> None:
    """Wait until nothing listens on the port (a lingering worker would make this fail)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"MLLP port {port} still taken {timeout} s after the gateway died"
                    ) from None
                time.sleep(0.1)


def test_a_batch_frame_is_answered_with_a_batch_ack_and_no_secret_is_stored(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    from gateway.crypto import open_sealed
    from gateway.keyring import load_keyring

    messages = [
        _message(
            hospital,
            f"BATCH-{n}",
            Person(mrn=f"BT{n}", family="Batch", given="Bea" + "AB"[n], birth_date=date(1985, 5, 5)),
        )
        for n in range(2)
    ]
    frame = b"BHS|^~\\&|ADT1|GHH\r" + b"\r".join(messages) + b"\rBTS|2"
    client = MllpClient(server.mllp_port)
    try:
        client.send(frame)
        ack = client.ack()
    finally:
        client.close()
    assert ack.startswith(b"BHS|")
    assert b"MSA|AA|BATCH-0|" in ack
    assert b"MSA|AA|BATCH-1|" in ack
    assert ack.rstrip(b"\r").endswith(b"BTS|2")
    keyring = load_keyring(upgraded.keyring)
    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT envelope_id, payload_sealed FROM envelopes")).all()
    finally:
        engine.dispose()
    assert len(rows) == 2
    for envelope_id, sealed in rows:
        payload = open_sealed(keyring, bytes(sealed), associated_data=envelope_id.encode())
        assert hospital.mllp_secret.encode() not in payload


def test_a_slow_sender_neither_blocks_others_nor_loses_its_message(
    server: Server, upgraded: Installation, hospital: Hospital
) -> None:
    slow = socket.create_connection(("127.0.0.1", server.mllp_port), timeout=30)
    frame = encode(_message(hospital, "SLOW-1"))
    slow.sendall(frame[:50])  # the slow sender has started a frame
    fast = MllpClient(server.mllp_port)
    try:
        fast.send(
            _message(
                hospital, "FAST-1", Person(mrn="F1", family="Quick", given="Fay", birth_date=date(1991, 1, 1))
            )
        )
        assert b"MSA|AA|FAST-1|" in fast.ack(), "a half-sent frame elsewhere does not hold others up"
        for start in range(50, len(frame), 40):  # the rest trickles in
            slow.sendall(frame[start : start + 40])
            time.sleep(0.02)
        decoder = FrameDecoder(max_frame_bytes=1 << 20)
        acks: list[Frame] = []
        while not acks:
            acks = [f for f in decoder.feed(slow.recv(65536)) if isinstance(f, Frame)]
        assert b"MSA|AA|SLOW-1|" in acks[0].data
    finally:
        slow.close()
        fast.close()
    assert _count(upgraded) == 2
