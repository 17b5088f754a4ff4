"""Checkpoints as C2SP `tlog-checkpoint` signed notes, signed with Ed25519 (C2SP `signed-note`).

A checkpoint is the text `<origin>\\n<size>\\n<base64 root>\\n`, a blank line, and one or more
signature lines `— <key name> <base64(key id ‖ signature)>\\n`.

Invariants:
- Key ID = `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]` (signature type 0x01 = Ed25519); the
  signature covers the note text, i.e. everything before the blank line, final newline included.
- Parsing is strict (UTF-8, no control characters but newline, size without leading zeros, a
  32-byte root, at most `MAX_SIGNATURES` lines); signatures by keys the verifier does not know
  are ignored (that is what lets keys rotate and witnesses cosign), and a note with no valid
  signature by a trusted key is refused.
- A checkpoint names its origin; a verifier pins the origin it expects (a checkpoint from
  another log, e.g. staging, is refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.errors import CheckpointError

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash and space
MAX_SIGNATURES = 16
MAX_NOTE_BYTES = 8192
KEY_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        """The signed text: origin, size and root lines, each ending in a newline."""
        if not KEY_NAME.fullmatch(self.origin):
            raise CheckpointError("origin must be non-empty, without spaces or '+'")
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted (name, Ed25519 public key), e.g. from `name+keyid+base64(0x01‖key)`."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def encode(self) -> str:
        """The verifier key string of the Go `note` package: `name+hex keyid+base64(type‖key)`."""
        return encode_key(self.name, ED25519, self.public_key)

    @classmethod
    def decode(cls, text: str) -> NoteVerifier:
        """Raises: CheckpointError."""
        return cls(*decode_key(text, ED25519, what="verifier key", kind="an Ed25519 key"))


def key_id(name: str, public_key: bytes, key_type: int = ED25519) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def encode_key(name: str, key_type: int, public_key: bytes) -> str:
    """`name+hex keyid+base64(type‖key)`, the Go `note` package's verifier key string."""
    raw = base64.b64encode(bytes([key_type]) + public_key).decode()
    return f"{name}+{key_id(name, public_key, key_type).hex()}+{raw}"


def decode_key(text: str, key_type: int, *, what: str, kind: str) -> tuple[str, bytes]:
    """The (name, public key) of a verifier key string of `key_type`.

    Raises:
        CheckpointError: malformed, another key type, or a key id that does not match its key.
    """
    parts = text.strip().split("+", 2)  # base64 may hold "+" too
    if len(parts) != 3 or not KEY_NAME.fullmatch(parts[0]):
        raise CheckpointError(f"{what} is not name+keyid+key")
    try:
        raw = base64.b64decode(parts[2], validate=True)
        wanted = bytes.fromhex(parts[1])
    except (binascii.Error, ValueError):
        raise CheckpointError(f"{what} is not valid hex/base64") from None
    if len(raw) != 33 or raw[0] != key_type:
        raise CheckpointError(f"{what} is not {kind}")
    if key_id(parts[0], raw[1:], key_type) != wanted:
        raise CheckpointError(f"{what} id does not match its key")
    return parts[0], raw[1:]


def public_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(checkpoint: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note for `checkpoint`, with one signature line by `name`."""
    if not KEY_NAME.fullmatch(name):
        raise CheckpointError("key name must be non-empty, without spaces or '+'")
    body = checkpoint.body()
    signature = private_key.sign(body.encode())
    blob = base64.b64encode(key_id(name, public_bytes(private_key)) + signature).decode()
    return f"{body}\n{SIGNATURE_PREFIX}{name} {blob}\n"


def add_signature(note: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Append another signature (a second key during rotation, or a cosigner) to a signed note."""
    body, _signatures = signature_lines(note)
    signature = private_key.sign(body.encode())
    blob = base64.b64encode(key_id(name, public_bytes(private_key)) + signature).decode()
    return f"{note}{SIGNATURE_PREFIX}{name} {blob}\n"


@dataclass(frozen=True)
class VerifiedCheckpoint:
    checkpoint: Checkpoint
    signed_by: tuple[str, ...]  # names of the trusted keys whose signature verified
    note: str


def open_note(
    note: str, verifiers: Iterable[NoteVerifier], *, origin: str | None = None
) -> VerifiedCheckpoint:
    """Parse a signed checkpoint and check its signatures against the trusted keys.

    Raises:
        CheckpointError: malformed, another origin, or no valid signature by a trusted key.
    """
    body, signatures = signature_lines(note)
    checkpoint = parse_body(body)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError("checkpoint is for another log (origin differs)")
    trusted = {(v.name, v.key_id): v for v in verifiers}
    signed_by: list[str] = []
    for name, blob in signatures:
        verifier = trusted.get((name, blob[:4]))
        if verifier is None:
            continue  # unknown keys are ignored (rotation, cosigners)
        try:
            Ed25519PublicKey.from_public_bytes(verifier.public_key).verify(blob[4:], body.encode())
        except InvalidSignature:
            raise CheckpointError(f"signature by {name} does not verify") from None
        signed_by.append(name)
    if not signed_by:
        raise CheckpointError("no signature by a trusted key")
    return VerifiedCheckpoint(checkpoint=checkpoint, signed_by=tuple(signed_by), note=note)


def parse_body(body: str) -> Checkpoint:
    """Raises: CheckpointError."""
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("checkpoint needs origin, size and root lines")
    origin, size, encoded_root = lines[0], lines[1], lines[2]
    if not KEY_NAME.fullmatch(origin):
        raise CheckpointError("malformed origin line")
    if not _SIZE.fullmatch(size):
        raise CheckpointError("malformed size line")
    try:
        root = base64.b64decode(encoded_root, validate=True)
    except binascii.Error:
        raise CheckpointError("malformed root line") from None
    if len(root) != 32:
        raise CheckpointError("root is not a SHA-256 hash")
    if any(not line for line in lines[3:-1]):
        raise CheckpointError("empty extension line")
    return Checkpoint(origin=origin, size=int(size), root=root)


def signature_lines(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's body and its (key name, decoded signature) lines, checked for form only.

    Raises:
        CheckpointError: not a well-formed signed note.
    """
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise CheckpointError("note is too large")
    if any(ord(c) < 0x20 and c != "\n" for c in note) or "\x7f" in note:
        raise CheckpointError("note holds control characters")
    if not note.endswith("\n"):
        raise CheckpointError("note does not end with a newline")
    at = note.rfind("\n\n")
    if at < 0:
        raise CheckpointError("note has no signature block")
    body, block = note[: at + 1], note[at + 2 :]
    signatures: list[tuple[str, bytes]] = []
    for line in block.split("\n")[:-1]:
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError("malformed signature line")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not KEY_NAME.fullmatch(name):
            raise CheckpointError("malformed signature key name")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise CheckpointError("malformed signature encoding") from None
        if len(blob) < 5:
            raise CheckpointError("signature is too short")
        signatures.append((name, blob))
    if not signatures:
        raise CheckpointError("note has no signatures")
    if len(signatures) > MAX_SIGNATURES:
        raise CheckpointError("note has too many signatures")
    return body, signatures
