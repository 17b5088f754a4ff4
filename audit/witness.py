"""A witness's decision (C2SP `tlog-witness` v1 `add-checkpoint`), without storage or HTTP.

The compliance office runs a witness apart from the gateway (reference/audit-log.md 2.6): it
keeps the latest checkpoint it cosigned per log and cosigns a new one only when a consistency
proof shows the log merely grew since. A log operator holding the signing key can then no longer
rewrite, truncate or roll back history without the witness refusing (T4, T8, T9).

Request body:  `old <size>` line, the consistency proof as one base64 hash per line, an empty
line, then the signed checkpoint. Refusals carry the HTTP status the specification gives:
400 malformed, 403 no signature by the log's key, 404 unknown log, 409 `old` is not the
witness's latest size (the answer then carries that size) or the same size with another root,
422 the proof does not verify.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from audit.checkpoint import NoteVerifier, VerifiedCheckpoint, open_note, parse_body, signature_lines
from audit.errors import CheckpointError
from audit.merkle import HASH_SIZE, verify_consistency

MAX_REQUEST_BYTES = 16384
MAX_PROOF_HASHES = 64
_OLD = re.compile(r"old (0|[1-9][0-9]{0,18})")


class WitnessRefusal(Exception):
    """The witness does not cosign; `status` is the HTTP status, `latest_size` set for 409."""

    def __init__(self, status: int, reason: str, latest_size: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.latest_size = latest_size


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: list[bytes]
    note: str


@dataclass(frozen=True)
class Witnessed:
    """What a witness holds for one log: the latest checkpoint it cosigned."""

    size: int
    root: bytes
    note: str


def parse_request(body: bytes) -> AddCheckpoint:
    """Raises: WitnessRefusal (400)."""
    if len(body) > MAX_REQUEST_BYTES:
        raise WitnessRefusal(400, "request is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRefusal(400, "request is not UTF-8") from None
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise WitnessRefusal(400, "request has no empty line before the checkpoint")
    lines = head.split("\n")
    match = _OLD.fullmatch(lines[0])
    if match is None:
        raise WitnessRefusal(400, "the first line must be 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_HASHES:
        raise WitnessRefusal(400, "consistency proof is too long")
    proof = []
    for line in lines[1:]:
        try:
            digest = base64.b64decode(line, validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) != HASH_SIZE:
            raise WitnessRefusal(400, "a consistency proof line is not a base64 SHA-256 hash")
        proof.append(digest)
    return AddCheckpoint(old_size=int(match.group(1)), proof=proof, note=note)


def check(
    request: AddCheckpoint,
    logs: Mapping[str, Sequence[NoteVerifier]],
    latest: Mapping[str, Witnessed],
) -> VerifiedCheckpoint:
    """The checkpoint to cosign, or why not. `logs` maps each origin the witness serves to the
    log's keys; `latest` holds what it last cosigned per origin.

    Raises:
        WitnessRefusal: with the status of the specification.
    """
    try:
        body, _signatures = signature_lines(request.note)
        origin = parse_body(body).origin
    except CheckpointError as exc:
        raise WitnessRefusal(400, f"checkpoint is malformed: {exc}") from None
    if origin not in logs:
        raise WitnessRefusal(404, "this witness does not witness that log")
    try:
        opened = open_note(request.note, logs[origin], origin=origin)
    except CheckpointError as exc:
        raise WitnessRefusal(403, f"checkpoint is not signed by the log: {exc}") from None
    size, new_root = opened.checkpoint.size, opened.checkpoint.root
    held = latest.get(origin)
    held_size = held.size if held is not None else 0
    if request.old_size > size:
        raise WitnessRefusal(400, "old size is larger than the checkpoint's size")
    if request.old_size != held_size:
        raise WitnessRefusal(409, "old size is not the latest size this witness cosigned", held_size)
    if held is None or held.size == 0:
        if request.proof:
            raise WitnessRefusal(400, "a proof from the empty tree must be empty")
    elif held.size == size:
        if request.proof:
            raise WitnessRefusal(400, "a proof between equal sizes must be empty")
        if held.root != new_root:
            raise WitnessRefusal(
                409, "another root for a size this witness cosigned: the log forked", held_size
            )
    elif not verify_consistency(held.size, size, held.root, new_root, request.proof):
        raise WitnessRefusal(422, "the consistency proof does not verify")
    return opened
