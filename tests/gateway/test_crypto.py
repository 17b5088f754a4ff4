"""Sealing payloads: round-trip, tamper detection, associated data, rotation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.crypto import NONCE_BYTES, SealError, open_sealed, seal
from gateway.keyring import Keyring

RING = Keyring.create()


@given(plaintext=st.binary(max_size=4096), associated=st.binary(max_size=64))
def test_sealed_payload_opens_to_the_same_bytes(plaintext: bytes, associated: bytes) -> None:
    sealed = seal(RING, plaintext, associated_data=associated)
    assert open_sealed(RING, sealed, associated_data=associated) == plaintext


@given(plaintext=st.binary(min_size=1, max_size=512), data=st.data())
@settings(max_examples=200)
def test_any_flipped_byte_fails_to_open(plaintext: bytes, data: st.DataObject) -> None:
    sealed = bytearray(seal(RING, plaintext, associated_data=b"envelope-1"))
    position = data.draw(st.integers(min_value=0, max_value=len(sealed) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    sealed[position] ^= 1 << bit
    with pytest.raises(SealError):
        open_sealed(RING, bytes(sealed), associated_data=b"envelope-1")


def test_payload_cannot_be_moved_to_another_record() -> None:
    sealed = seal(RING, b"Jane Doe 1980-02-03", associated_data=b"envelope-1")
    with pytest.raises(SealError, match="failed authentication"):
        open_sealed(RING, sealed, associated_data=b"envelope-2")


def test_each_seal_uses_a_fresh_nonce() -> None:
    first = seal(RING, b"same", associated_data=b"a")
    second = seal(RING, b"same", associated_data=b"a")
    header = 2 + first[1]
    assert first[header : header + NONCE_BYTES] != second[header : header + NONCE_BYTES]
    assert first != second


def test_ciphertext_does_not_contain_the_plaintext() -> None:
    assert b"Jane Doe" not in seal(RING, b"patient Jane Doe", associated_data=b"x")


def test_rotation_seals_under_the_new_key_and_still_opens_old_values() -> None:
    old_sealed = seal(RING, b"before rotation", associated_data=b"r")
    rotated = RING.rotate_data_key()
    new_sealed = seal(rotated, b"after rotation", associated_data=b"r")
    new_kid = rotated.active_data_key()[0]
    assert new_kid != RING.active_data_key()[0]
    assert new_sealed[2 : 2 + new_sealed[1]].decode() == new_kid
    assert open_sealed(rotated, old_sealed, associated_data=b"r") == b"before rotation"
    assert open_sealed(rotated, new_sealed, associated_data=b"r") == b"after rotation"


def test_value_sealed_under_a_foreign_keyring_is_refused_by_key_id() -> None:
    foreign = seal(Keyring.create(), b"x", associated_data=b"a")
    with pytest.raises(SealError, match="key this keyring does not hold"):
        open_sealed(RING, foreign, associated_data=b"a")


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02\x03abc" + bytes(40), b"\x01\x05ab"])
def test_malformed_sealed_values_are_refused(blob: bytes) -> None:
    with pytest.raises(SealError):
        open_sealed(RING, blob, associated_data=b"")


@given(blob=st.binary(max_size=128))
def test_arbitrary_bytes_never_open_and_never_crash(blob: bytes) -> None:
    with pytest.raises(SealError):
        open_sealed(RING, blob, associated_data=b"")
