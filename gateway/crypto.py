"""Sealing payloads at rest: AES-256-GCM with a fresh nonce and caller-given associated data.

The sealed form is one self-describing byte string:

    version (1 byte = 0x01) | kid length (1 byte) | kid (ASCII) | nonce (12 bytes) | ciphertext+tag

Invariants:
- Every seal draws a fresh random 96-bit nonce (NIST SP 800-38D 8.2.2).
- The header (version and key id) is authenticated together with the associated data, so
  neither the key id nor the record the ciphertext belongs to can be swapped undetected.
- Opening picks the key by the id in the header, so rotation never strands old ciphertexts.

Example:
    >>> from gateway.keyring import Keyring
    >>> ring = Keyring.create()
    >>> sealed = seal(ring, b"payload", associated_data=b"envelope-1")
    >>> open_sealed(ring, sealed, associated_data=b"envelope-1")
    b'payload'
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.keyring import Keyring

SEAL_VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16


class SealError(Exception):
    """A sealed value cannot be opened. The message names the cause, never any content."""


def seal(keyring: Keyring, plaintext: bytes, *, associated_data: bytes) -> bytes:
    """Encrypt `plaintext` under the keyring's active data key, bound to `associated_data`."""
    kid, key = keyring.active_data_key()
    header = _header(kid)
    nonce = secrets.token_bytes(NONCE_BYTES)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + associated_data)


def facts_associated_data(envelope_id: str) -> bytes:
    """An envelope's facts are sealed apart from its payload, bound to its id and their role."""
    return envelope_id.encode() + b"|facts"


def open_facts(keyring: Keyring, envelope_id: str, sealed: bytes) -> dict[str, Any]:
    """An envelope's facts. Raises: as `open_sealed`."""
    facts: dict[str, Any] = json.loads(
        open_sealed(keyring, sealed, associated_data=facts_associated_data(envelope_id))
    )
    return facts


def open_sealed(keyring: Keyring, sealed: bytes, *, associated_data: bytes) -> bytes:
    """Decrypt a value made by `seal` with the same associated data.

    Raises:
        SealError: the value is malformed, its key is not in the keyring, or it was altered.
    """
    if len(sealed) < 2 or sealed[0] != SEAL_VERSION:
        raise SealError("unknown sealed-value format")
    kid_length = sealed[1]
    body_start = 2 + kid_length
    if len(sealed) < body_start + NONCE_BYTES + TAG_BYTES:
        raise SealError("sealed value is truncated")
    try:
        kid = sealed[2:body_start].decode("ascii")
    except UnicodeDecodeError:
        raise SealError("sealed value has a malformed key id") from None
    key = keyring.data_key(kid)
    if key is None:
        raise SealError("sealed under a key this keyring does not hold")
    header = sealed[:body_start]
    nonce = sealed[body_start : body_start + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, sealed[body_start + NONCE_BYTES :], header + associated_data)
    except InvalidTag:
        raise SealError("sealed value failed authentication (altered, or wrong associated data)") from None


def _header(kid: str) -> bytes:
    encoded = kid.encode("ascii")
    if len(encoded) > 255:
        raise ValueError("key id longer than 255 bytes")
    return bytes([SEAL_VERSION, len(encoded)]) + encoded
