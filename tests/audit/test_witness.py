"""Witness cosignatures (C2SP tlog-cosignature) and the witness's add-checkpoint decision
(C2SP tlog-witness): growth is cosigned; forks, truncation and rollback are refused (T4, T8, T9)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from audit.checkpoint import Checkpoint, NoteVerifier, open_note, public_bytes, sign
from audit.cosignature import CosignerKey, cosign, cosignatures
from audit.errors import CheckpointError
from audit.merkle import MemoryTree, consistency_proof, leaf_hash, root
from audit.witness import AddCheckpoint, Witnessed, WitnessRefusal, check, parse_request

ORIGIN = "audit.example.org/test/2026"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LOG = NoteVerifier(ORIGIN, public_bytes(LOG_KEY))
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
WITNESS = CosignerKey("witness.compliance.example", public_bytes(WITNESS_KEY))
TREE = MemoryTree([leaf_hash(f"entry {i}".encode()) for i in range(40)])
FORK = MemoryTree([leaf_hash(f"entry {i}".encode() if i < 20 else b"forged") for i in range(40)])


def _note(size: int, tree: MemoryTree = TREE, key: Ed25519PrivateKey = LOG_KEY) -> str:
    return sign(Checkpoint(ORIGIN, size, root(tree, size)), ORIGIN, key)


def _request(old: int, size: int, tree: MemoryTree = TREE, proof: list[bytes] | None = None) -> AddCheckpoint:
    if proof is None:
        proof = consistency_proof(tree, old, size) if 0 < old < size else []
    return AddCheckpoint(old_size=old, proof=proof, note=_note(size, tree))


def _held(size: int, tree: MemoryTree = TREE) -> dict[str, Witnessed]:
    return {ORIGIN: Witnessed(size, root(tree, size), _note(size, tree))}


def _refused(request: AddCheckpoint, latest: dict[str, Witnessed]) -> WitnessRefusal:
    with pytest.raises(WitnessRefusal) as refusal:
        check(request, {ORIGIN: [LOG]}, latest)
    return refusal.value


# --- cosignatures ----------------------------------------------------------------------------


def test_a_cosignature_verifies_and_log_verifiers_ignore_it() -> None:
    note = _note(17)
    body = note[: note.index("\n\n") + 1]
    line = cosign(body, WITNESS.name, WITNESS_KEY, 1_795_000_000).line
    cosigned = note + line
    found = cosignatures(cosigned, [WITNESS])
    assert [(c.witness, c.timestamp, c.line) for c in found] == [(WITNESS.name, 1_795_000_000, line)]
    assert open_note(cosigned, [LOG]).signed_by == (ORIGIN,)  # the log's verifier skips the line
    assert cosignatures(note, [WITNESS]) == []  # not cosigned


def test_a_cosignature_over_another_time_or_checkpoint_does_not_verify() -> None:
    note = _note(17)
    body = note[: note.index("\n\n") + 1]
    blob = bytearray(
        base64.b64decode(cosign(body, WITNESS.name, WITNESS_KEY, 1_795_000_000).line.split()[-1])
    )
    blob[11] ^= 1  # the timestamp
    with pytest.raises(CheckpointError, match="does not verify"):
        cosignatures(note + f"\u2014 {WITNESS.name} {base64.b64encode(bytes(blob)).decode()}\n", [WITNESS])
    moved = cosign(_note(18)[: _note(18).index("\n\n") + 1], WITNESS.name, WITNESS_KEY, 1).line
    with pytest.raises(CheckpointError, match="does not verify"):
        cosignatures(note + moved, [WITNESS])


def test_a_witness_key_round_trips_and_is_not_a_log_key() -> None:
    assert CosignerKey.decode(WITNESS.encode()) == WITNESS
    with pytest.raises(CheckpointError, match="cosignature/v1"):
        CosignerKey.decode(LOG.encode())
    with pytest.raises(CheckpointError, match="Ed25519 key"):
        NoteVerifier.decode(WITNESS.encode())
    name, key_id, key = WITNESS.encode().split("+", 2)
    with pytest.raises(CheckpointError, match="key id"):
        CosignerKey.decode(f"{name}+00000000+{key}")
    assert key_id == WITNESS.key_id.hex()


# --- the witness's decision --------------------------------------------------------------------


def test_the_first_checkpoint_and_every_consistent_growth_are_accepted() -> None:
    assert check(_request(0, 10), {ORIGIN: [LOG]}, {}).checkpoint.size == 10
    assert check(_request(10, 33), {ORIGIN: [LOG]}, _held(10)).checkpoint.size == 33
    assert check(_request(33, 33), {ORIGIN: [LOG]}, _held(33)).checkpoint.size == 33


def test_a_fork_is_refused_with_422_when_it_grows_and_409_at_the_same_size() -> None:
    # FORK agrees with TREE on the first 20 entries: from a size within them it is mere growth
    assert check(_request(10, 33, FORK), {ORIGIN: [LOG]}, _held(10)).checkpoint.size == 33
    forked_late = _refused(_request(30, 33, FORK, proof=consistency_proof(FORK, 30, 33)), _held(30))
    assert forked_late.status == 422
    same_size = _refused(_request(33, 33, FORK), _held(33))
    assert (same_size.status, same_size.latest_size) == (409, 33)


def test_truncation_and_rollback_are_refused_naming_the_size_the_witness_holds() -> None:
    rolled_back = _refused(_request(0, 20), _held(33))  # an operator that forgot the witness
    assert (rolled_back.status, rolled_back.latest_size) == (409, 33)
    truncated = _refused(_request(33, 20), _held(33))
    assert truncated.status == 400
    stale_old = _refused(_request(10, 33), _held(20))
    assert (stale_old.status, stale_old.latest_size) == (409, 20)


def test_unknown_logs_foreign_keys_and_bad_proofs_get_their_statuses() -> None:
    other = Ed25519PrivateKey.from_private_bytes(bytes(32))
    assert _refused(AddCheckpoint(0, [], _note(10, key=other)), {}).status == 403
    with pytest.raises(WitnessRefusal) as unknown:
        check(_request(0, 10), {"another.example/log": [LOG]}, {})
    assert unknown.value.status == 404
    assert _refused(_request(10, 33, proof=[bytes(32)]), _held(10)).status == 422
    assert _refused(_request(0, 10, proof=[bytes(32)]), {}).status == 400
    assert _refused(AddCheckpoint(0, [], "not a note\n"), {}).status == 400


def test_a_request_body_parses_into_old_size_proof_and_note() -> None:
    proof = consistency_proof(TREE, 10, 33)
    body = "old 10\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + _note(33)
    assert parse_request(body.encode()) == AddCheckpoint(10, proof, _note(33))
    assert parse_request(("old 0\n\n" + _note(5)).encode()).proof == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 1\n",
        b"old 01\n\nx",
        b"new 1\n\nx",
        b"old 1\nnot-base64!\n\nx",
        b"old 1\nAAAA\n\nx",
        b"\xff\n\n",
    ],
)
def test_malformed_requests_are_400(body: bytes) -> None:
    with pytest.raises(WitnessRefusal) as refusal:
        parse_request(body)
    assert refusal.value.status == 400


@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_a_request_or_a_400(body: bytes) -> None:
    status = 200
    try:
        request = parse_request(body)
    except WitnessRefusal as refusal:
        status = refusal.status
    if status == 200:
        assert request.old_size >= 0
        assert all(len(h) == 32 for h in request.proof)
    assert status in (200, 400)
