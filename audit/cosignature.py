"""Witness cosignatures on checkpoints: C2SP `tlog-cosignature` v1 (Ed25519, signature type 0x04).

A witness that has checked a checkpoint is consistent with every one it saw before adds a note
signature line `— <witness name> base64(key id ‖ timestamp ‖ signature)` to it.

Invariants:
- Key ID = `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]`, so a log verifier that does not know the
  witness ignores the line, and a witness key is never mistaken for a log key (type 0x01).
- The signed message is `cosignature/v1\\ntime <timestamp>\\n` followed by the checkpoint body;
  the timestamp (seconds since the epoch, 8 bytes big-endian in the line) is when the witness
  cosigned, so a cosignature also says "this size existed by then".
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.checkpoint import (
    KEY_NAME,
    SIGNATURE_PREFIX,
    decode_key,
    encode_key,
    key_id,
    public_bytes,
    signature_lines,
)
from audit.errors import CheckpointError

COSIGNATURE_V1 = 0x04
_BLOB_SIZE = 4 + 8 + 64


@dataclass(frozen=True)
class CosignerKey:
    """A witness's (name, Ed25519 public key), written `name+keyid+base64(0x04‖key)`."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return cosigner_key_id(self.name, self.public_key)

    def encode(self) -> str:
        return encode_key(self.name, COSIGNATURE_V1, self.public_key)

    @classmethod
    def decode(cls, text: str) -> CosignerKey:
        """Raises: CheckpointError."""
        return cls(
            *decode_key(text, COSIGNATURE_V1, what="witness key", kind="an Ed25519 cosignature/v1 key")
        )


@dataclass(frozen=True)
class Cosignature:
    witness: str
    timestamp: int  # seconds since the epoch, when the witness cosigned
    line: str  # the note signature line, newline included


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    return key_id(name, public_key, COSIGNATURE_V1)


def cosign(body: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> Cosignature:
    """The cosignature line for a checkpoint body (origin, size and root lines)."""
    if not KEY_NAME.fullmatch(name):
        raise CheckpointError("witness name must be non-empty, without spaces or '+'")
    signature = private_key.sign(_message(body, timestamp))
    key = cosigner_key_id(name, public_bytes(private_key))
    blob = base64.b64encode(key + timestamp.to_bytes(8, "big") + signature).decode()
    return Cosignature(name, timestamp, f"{SIGNATURE_PREFIX}{name} {blob}\n")


def cosignatures(note: str, witnesses: Iterable[CosignerKey]) -> list[Cosignature]:
    """The valid cosignatures on a signed note by the given witnesses; lines by other keys are
    ignored (the log's own signature among them).

    Raises:
        CheckpointError: the note is malformed, or a line by a known witness does not verify.
    """
    body, signatures = signature_lines(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    found: list[Cosignature] = []
    for name, blob in signatures:
        witness = known.get((name, blob[:4]))
        if witness is None:
            continue
        if len(blob) != _BLOB_SIZE:
            raise CheckpointError(f"cosignature by {name} is malformed")
        timestamp = int.from_bytes(blob[4:12], "big")
        try:
            Ed25519PublicKey.from_public_bytes(witness.public_key).verify(
                blob[12:], _message(body, timestamp)
            )
        except InvalidSignature:
            raise CheckpointError(f"cosignature by {name} does not verify") from None
        encoded = base64.b64encode(blob).decode()
        found.append(Cosignature(name, timestamp, f"{SIGNATURE_PREFIX}{name} {encoded}\n"))
    return found


def _message(body: str, timestamp: int) -> bytes:
    if not 0 <= timestamp < 2**63:
        raise CheckpointError("cosignature time is out of range")
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()
