"""The RFC 6962 / RFC 9162 Merkle tree: hashes, appends, proofs and their verification.

Invariants:
- Leaf hash `SHA-256(0x00 ‖ leaf)`, node hash `SHA-256(0x01 ‖ left ‖ right)`; a tree of n > 1
  leaves splits at the largest power of two below n; the empty tree's root is `SHA-256("")`.
- Only complete subtrees are ever stored (`HashSource.node(level, index)` covers leaves
  `[index·2^level, (index+1)·2^level)`); every other hash is computed from them, so a stored
  node never changes once written.
- Verification follows RFC 9162 2.1.3.2 and 2.1.4.2 literally and returns False (never raises) on
  any malformed or wrong proof: a verifier's answer is yes or no.
- No IO here: storage is behind `HashSource`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from audit.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below `size` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


class HashSource(Protocol):
    def node(self, level: int, index: int) -> bytes:
        """The hash of the complete subtree at (level, index); level 0 is a leaf hash."""
        ...


def subtree_hash(source: HashSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range the RFC 6962 recursion produces (start aligned to its split)."""
    size = end - start
    if size <= 0:
        raise ProofError("empty range")
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return source.node(level, start >> level)
    k = _split(size)
    return node_hash(subtree_hash(source, start, start + k), subtree_hash(source, start + k, end))


def root(source: HashSource, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(source, 0, size)


def inclusion_proof(source: HashSource, index: int, size: int) -> list[bytes]:
    """RFC 6962 2.1.1 PATH(index, D[size]).

    Raises:
        ProofError: index outside the tree.
    """
    if not 0 <= index < size:
        raise ProofError(f"index {index} is outside a tree of size {size}")
    proof: list[bytes] = []
    start, count, offset = 0, size, index
    while count > 1:  # iterative PATH: the sibling hashes are collected top-down, emitted bottom-up
        k = _split(count)
        if offset < k:
            proof.append(subtree_hash(source, start + k, start + count))
            count = k
        else:
            proof.append(subtree_hash(source, start, start + k))
            start, count, offset = start + k, count - k, offset - k
    proof.reverse()
    return proof


def consistency_proof(source: HashSource, first: int, second: int) -> list[bytes]:
    """RFC 6962 2.1.2 PROOF(first, D[second]); empty when the sizes are equal.

    Raises:
        ProofError: first is 0 or larger than second.
    """
    if first == second and first > 0:
        return []
    if not 0 < first < second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    proof: list[bytes] = []
    start, count, m, complete = 0, second, first, True
    while m != count:
        k = _split(count)
        if m <= k:
            proof.append(subtree_hash(source, start + k, start + count))
            count = k
        else:
            proof.append(subtree_hash(source, start, start + k))
            start, count, m, complete = start + k, count - k, m - k, False
    if not complete:
        proof.append(subtree_hash(source, start, start + count))
    proof.reverse()
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 2.1.3.2, for the leaf *hash* `leaf`."""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2."""
    if any(len(p) != HASH_SIZE for p in proof) or first < 0 or first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return False  # any tree is consistent with the empty one; asking is a client error
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


@dataclass
class CompactRange:
    """The peaks of a tree of `size` leaves: one hash per set bit of `size`, largest first.

    Appending folds equal-sized peaks together; each fold completes a subtree that `append`
    returns as (level, index, hash) so the store can keep it for proofs.
    """

    size: int = 0
    peaks: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.peaks) != self.size.bit_count() or any(len(p) != HASH_SIZE for p in self.peaks):
            raise ProofError("compact range does not match its size")

    @classmethod
    def from_bytes(cls, size: int, packed: bytes) -> CompactRange:
        return cls(size, [packed[i : i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE)])

    def to_bytes(self) -> bytes:
        return b"".join(self.peaks)

    def append(self, hashed_leaf: bytes) -> list[tuple[int, int, bytes]]:
        completed: list[tuple[int, int, bytes]] = []
        self.peaks.append(hashed_leaf)
        index, level = self.size, 0
        while index & 1:  # the new leaf closes a subtree at every trailing 1-bit of the old size
            right = self.peaks.pop()
            left = self.peaks.pop()
            merged = node_hash(left, right)
            level, index = level + 1, index >> 1
            completed.append((level, index, merged))
            self.peaks.append(merged)
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        result = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            result = node_hash(peak, result)
        return result


class MemoryTree:
    """Every complete subtree of a list of leaf hashes, in memory: the offline verifier's tree."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [list(leaf_hashes)]
        self._build_from(0)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, hashed_leaf: bytes) -> None:
        self.levels[0].append(hashed_leaf)
        self._build_from(self.size - 1)

    def _build_from(self, first_leaf: int) -> None:
        level, start = 0, first_leaf
        while len(self.levels[level]) > 1:
            below = self.levels[level]
            if level + 1 == len(self.levels):
                self.levels.append([])
            above = self.levels[level + 1]
            start = min(start >> 1, len(above))
            del above[start:]
            above.extend(node_hash(below[i], below[i + 1]) for i in range(2 * start, len(below) - 1, 2))
            level += 1

    def node(self, level: int, index: int) -> bytes:
        try:
            return self.levels[level][index]
        except IndexError:
            raise ProofError(f"no complete subtree at level {level}, index {index}") from None
