"""The export bundle: a directory anyone can verify offline with `audit.verify` alone.

    log.json          {"origin", "size", "verifier_keys": [...], "exported_at"}
    leaves.jsonl      leaf i is line i: the exact stored bytes (JCS has no raw newline), then "\\n"
    leaf_hashes.txt   line i: the index the database stored leaf i under and the hash recorded
                      when it was integrated (`<index> <hex>`), so a gap or edit is named exactly
    checkpoints.json  [{"size", "note"}] every signed checkpoint, by size

The verifier trusts none of it: leaves are re-hashed, the tree recomputed, and checkpoints
checked against keys the auditor supplies (or, failing that, the ones listed, which it prints so
they can be compared with the published keys).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LOG = "log.json"
LEAVES = "leaves.jsonl"
LEAF_HASHES = "leaf_hashes.txt"
CHECKPOINTS = "checkpoints.json"


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    note: str


@dataclass(frozen=True)
class Bundle:
    origin: str
    verifier_keys: list[str]
    leaves: list[bytes]
    leaf_hashes: list[bytes] | None
    checkpoints: list[StoredCheckpoint]
    stored_indices: list[int] | None = None


def write_bundle(
    directory: Path,
    *,
    origin: str,
    verifier_keys: Iterable[str],
    leaves: Iterable[tuple[int, bytes, bytes]],
    checkpoints: Iterable[StoredCheckpoint],
    exported_at: str,
) -> int:
    """Write a bundle from (stored index, leaf, recorded leaf hash) in index order; returns the count."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    with (directory / LEAVES).open("wb") as leaf_file, (directory / LEAF_HASHES).open("w") as hash_file:
        for index, leaf, hashed in leaves:
            if b"\n" in leaf:
                raise ValueError(f"leaf {index} holds a raw newline: not a JCS leaf")
            leaf_file.write(leaf + b"\n")
            hash_file.write(f"{index} {hashed.hex()}\n")
            count += 1
        leaf_file.flush()
        os.fsync(leaf_file.fileno())
    (directory / CHECKPOINTS).write_text(
        json.dumps([{"size": c.size, "note": c.note} for c in checkpoints], indent=1)
    )
    (directory / LOG).write_text(
        json.dumps(
            {
                "origin": origin,
                "size": count,
                "verifier_keys": list(verifier_keys),
                "exported_at": exported_at,
            },
            indent=2,
        )
    )
    return count


def read_bundle(directory: Path) -> Bundle:
    """Raises: OSError, ValueError (a file is missing or not in the bundle's format)."""
    header = json.loads((directory / LOG).read_text())
    raw = (directory / LEAVES).read_bytes()
    if raw and not raw.endswith(b"\n"):
        raise ValueError(f"{LEAVES} does not end with a newline (truncated?)")
    leaves = raw.split(b"\n")[:-1] if raw else []
    hashes_path = directory / LEAF_HASHES
    leaf_hashes: list[bytes] | None = None
    stored_indices: list[int] | None = None
    if hashes_path.exists():
        text = hashes_path.read_text()
        fields = text.split()  # flat, not a list per line: a million small lists cost seconds
        if len(fields) != 2 * text.count("\n") or (text and not text.endswith("\n")):
            raise ValueError(f"{LEAF_HASHES} is not one '<index> <hex>' line per entry")
        stored_indices = [int(index) for index in fields[0::2]]
        leaf_hashes = [bytes.fromhex(hexed) for hexed in fields[1::2]]
    checkpoints = [
        StoredCheckpoint(size=int(item["size"]), note=str(item["note"]))
        for item in json.loads((directory / CHECKPOINTS).read_text())
    ]
    return Bundle(
        origin=str(header["origin"]),
        verifier_keys=[str(key) for key in header.get("verifier_keys", [])],
        leaves=leaves,
        leaf_hashes=leaf_hashes,
        stored_indices=stored_indices,
        checkpoints=checkpoints,
    )
