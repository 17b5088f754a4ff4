"""The offline verifier: recompute the RFC 6962 tree of an export and check every checkpoint.

What it proves: every leaf is canonical, belongs to this log and hashes to what was recorded;
every checkpoint is signed by a trusted key for this origin and its root is the root of the
leaves up to its size (so the log only grew between checkpoints); no two checkpoints disagree
about one size; no checkpoint — including ones the auditor kept from earlier — covers more
entries than the export holds (truncation). What it cannot prove: that the gateway recorded
every disclosure (reference/audit-log.md 2.10).

The first failure is reported with the first index it can name: a leaf that does not match is
named exactly; a checkpoint whose root no longer matches names the first entry it was the first
to cover (the change lies between that entry and the checkpoint's size).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.bundle import Bundle
from audit.checkpoint import NoteVerifier, open_note, parse_body, signature_lines
from audit.cosignature import CosignerKey, cosignatures
from audit.errors import CheckpointError, RecordError, VerificationFailed
from audit.merkle import MemoryTree, leaf_hash, root
from audit.record import parse_leaf
from audit.recorded_window import DEFAULT_CLOCK_SKEW, DEFAULT_MAX_LAG, out_of_window, recorded_windows


@dataclass
class Report:
    origin: str
    entries: int = 0
    checkpoints: int = 0
    covered: int = 0  # entries covered by the largest verified checkpoint
    root: bytes = b""
    trusted_keys: list[str] = field(default_factory=list)
    witnessed: int = 0  # entries covered by the largest checkpoint with a quorum of cosignatures
    witnessed_at: int | None = None  # when that checkpoint reached its quorum of cosignatures


def verify_bundle(
    bundle: Bundle,
    *,
    trusted: Iterable[NoteVerifier] | None = None,
    origin: str | None = None,
    known_notes: Iterable[str] = (),
    check_records: bool = True,
    witnesses: Sequence[CosignerKey] = (),
    quorum: int = 1,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    max_lag: int = DEFAULT_MAX_LAG,
) -> Report:
    """Verify an export; `known_notes` are checkpoints the auditor held from earlier. With
    `witnesses`, some checkpoint must carry valid cosignatures by `quorum` of them (C2SP
    tlog-cosignature): the witnesses vouch the log only grew up to that size. Each record's
    `recorded` time must then also fit the cosignature times (audit.recorded_window).

    Raises:
        VerificationFailed: the first problem found, with the first index it can name.
    """
    expected_origin = origin or bundle.origin
    if bundle.origin != expected_origin:
        raise VerificationFailed(None, "the export is of another log (origin differs)")
    verifiers = list(trusted) if trusted is not None else _listed_keys(bundle)
    notes = [(c.note, "exported") for c in bundle.checkpoints] + [(n, "auditor-held") for n in known_notes]
    checkpoints = _open_all(notes, verifiers, expected_origin)
    witnessed_points = _witnessed(notes, witnesses, quorum)
    windows = recorded_windows(witnessed_points, clock_skew=clock_skew, max_lag=max_lag) if witnesses else []
    window = 0
    hashes: list[bytes] = []
    count = len(bundle.leaves)
    for index, leaf in enumerate(bundle.leaves):
        if bundle.stored_indices is not None and (
            index >= len(bundle.stored_indices) or bundle.stored_indices[index] != index
        ):
            raise VerificationFailed(index, "entry is missing (the stored indices have a gap)")
        hashed = leaf_hash(leaf)
        if bundle.leaf_hashes is not None and (
            index >= len(bundle.leaf_hashes) or bundle.leaf_hashes[index] != hashed
        ):
            raise VerificationFailed(index, "leaf bytes do not hash to the hash recorded at integration")
        if check_records:
            document = _check_record(index, leaf, expected_origin)
            if windows:
                while index >= windows[window].end:
                    window += 1
                problem = out_of_window(document.get("recorded"), windows[window])
                if problem:
                    raise VerificationFailed(index, problem)
        hashes.append(hashed)
    if bundle.leaf_hashes is not None and len(bundle.leaf_hashes) != count:
        raise VerificationFailed(count, "the export lists more leaf hashes than leaves")
    tree = MemoryTree(hashes)  # built level by level: far cheaper than appending one by one
    previous = 0
    for size, checkpoint_root in checkpoints:
        if size > count:
            raise VerificationFailed(count, f"a checkpoint covers {size} entries but the log holds {count}")
        if root(tree, size) != checkpoint_root:
            raise VerificationFailed(
                previous,
                f"entries {previous}..{size - 1} do not hash to the root signed at size {size}",
            )
        previous = size
    return Report(
        origin=expected_origin,
        entries=count,
        checkpoints=len(checkpoints),
        covered=previous,
        root=root(tree, count),
        trusted_keys=[v.encode() for v in verifiers],
        witnessed=max(witnessed_points)[0] if witnessed_points else 0,
        witnessed_at=max(witnessed_points)[1] if witnessed_points else None,
    )


def _listed_keys(bundle: Bundle) -> list[NoteVerifier]:
    try:
        return [NoteVerifier.decode(key) for key in bundle.verifier_keys]
    except CheckpointError as exc:
        raise VerificationFailed(None, f"the export's verifier keys are malformed: {exc}") from None


def _open_all(
    notes: list[tuple[str, str]], verifiers: list[NoteVerifier], origin: str
) -> list[tuple[int, bytes]]:
    """Every checkpoint opened and verified, one root per size, sorted by size."""
    by_size: dict[int, bytes] = {}
    for note, where in notes:
        try:
            opened = open_note(note, verifiers, origin=origin)
        except CheckpointError as exc:
            raise VerificationFailed(None, f"an {where} checkpoint is not acceptable: {exc}") from None
        size, checkpoint_root = opened.checkpoint.size, opened.checkpoint.root
        if by_size.setdefault(size, checkpoint_root) != checkpoint_root:
            raise VerificationFailed(
                None, f"two signed checkpoints disagree about size {size}: the log forked"
            )
    return sorted(by_size.items())


def _witnessed(
    notes: list[tuple[str, str]], witnesses: Sequence[CosignerKey], quorum: int
) -> list[tuple[int, int]]:
    """(size, time) of every checkpoint cosigned by `quorum` distinct witnesses; the time is
    when the quorum was reached (the quorum-th earliest cosignature).

    Raises:
        VerificationFailed: a cosignature by a listed witness does not verify, or witnesses are
            given and no checkpoint reaches the quorum.
    """
    if not witnesses:
        return []
    witnessed = []
    for note, where in notes:
        try:
            found = cosignatures(note, witnesses)
        except CheckpointError as exc:
            raise VerificationFailed(
                None, f"an {where} checkpoint's cosignature is not acceptable: {exc}"
            ) from None
        earliest_by_witness: dict[str, int] = {}
        for cosignature in found:
            known = earliest_by_witness.get(cosignature.witness, cosignature.timestamp)
            earliest_by_witness[cosignature.witness] = min(known, cosignature.timestamp)
        if len(earliest_by_witness) >= quorum:
            size = parse_body(signature_lines(note)[0]).size
            witnessed.append((size, sorted(earliest_by_witness.values())[quorum - 1]))
    if not witnessed:
        raise VerificationFailed(
            None, f"no checkpoint is cosigned by {quorum} of the {len(witnesses)} witnesses"
        )
    return witnessed


def _check_record(index: int, leaf: bytes, origin: str) -> dict[str, Any]:
    try:
        document = parse_leaf(leaf)
    except RecordError as exc:
        raise VerificationFailed(index, str(exc)) from None
    if document.get("log") != origin:
        raise VerificationFailed(index, "the record belongs to another log")
    return document
