"""The Merkle tree against a straightforward RFC 6962 implementation written from the text,
for every size up to 300 and random larger ones, plus the RFC 6962 reference roots."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.errors import ProofError
from audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# --- an independent, recursive, slow implementation straight from RFC 6962 2.1 -------------


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _leaves(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


EXTRA = _leaves(310)  # a few leaves past the tree, for "the same proof for a larger tree"
LEAVES = EXTRA[:300]
TREE = MemoryTree([leaf_hash(leaf) for leaf in LEAVES])


# --- RFC 6962 reference data (the certificate-transparency test vectors) --------------------

# The eight leaves of RFC 6962's reference tests (Go `merkle` and C++ `merkle_tree_test`).
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_the_rfc6962_reference_roots() -> None:
    tree = MemoryTree()
    for size, leaf in enumerate(CT_LEAVES, start=1):
        tree.append(leaf_hash(leaf))
        assert root(tree, size).hex() == CT_ROOTS[size - 1]
    assert (
        root(tree, 0)
        == EMPTY_ROOT
        == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )


def test_roots_match_the_naive_tree_for_every_size_up_to_300() -> None:
    for size in range(301):
        assert root(TREE, size) == _mth(LEAVES[:size]), size


def test_inclusion_proofs_for_every_index_and_size_up_to_300() -> None:
    for size in range(1, 301):
        expected_root = _mth(LEAVES[:size])
        for index in range(size):
            proof = inclusion_proof(TREE, index, size)
            assert proof == _path(index, LEAVES[:size]), (index, size)
            assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, expected_root)


def test_consistency_proofs_for_every_pair_of_sizes_up_to_300() -> None:
    roots = [_mth(LEAVES[:size]) for size in range(301)]
    for second in range(1, 301):
        for first in range(1, second + 1):
            proof = consistency_proof(TREE, first, second)
            expected = [] if first == second else _subproof(first, LEAVES[:second], True)
            assert proof == expected, (first, second)
            assert verify_consistency(first, second, roots[first], roots[second], proof)


def test_random_larger_trees() -> None:
    rng = random.Random(6962)  # noqa: S311 - reproducible test sizes, not secrets
    leaves = _leaves(5000)
    tree = MemoryTree([leaf_hash(leaf) for leaf in leaves])
    for _ in range(40):
        second = rng.randint(301, 5000)
        first = rng.randint(1, second)
        index = rng.randrange(second)
        second_root = _mth(leaves[:second])
        assert root(tree, second) == second_root
        assert verify_inclusion(
            leaf_hash(leaves[index]), index, second, inclusion_proof(tree, index, second), second_root
        )
        assert verify_consistency(
            first, second, _mth(leaves[:first]), second_root, consistency_proof(tree, first, second)
        )


def test_a_compact_range_appends_to_the_same_root_and_yields_every_complete_subtree() -> None:
    compact = CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    for size, leaf in enumerate(LEAVES, start=1):
        for level, index, digest in compact.append(leaf_hash(leaf)):
            nodes[(level, index)] = digest
        assert compact.root() == _mth(LEAVES[:size])
        restored = CompactRange.from_bytes(compact.size, compact.to_bytes())
        assert restored.root() == compact.root()
    assert nodes == {
        (level, index): TREE.node(level, index)
        for level in range(1, len(TREE.levels))
        for index in range(len(TREE.levels[level]))
    }


def test_a_compact_range_refuses_peaks_that_do_not_fit_its_size() -> None:
    with pytest.raises(ProofError):
        CompactRange(3, [b"\x00" * 32])


@pytest.mark.parametrize(("index", "size"), [(-1, 5), (5, 5), (0, 0)])
def test_no_inclusion_proof_outside_the_tree(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        inclusion_proof(TREE, index, size)


@pytest.mark.parametrize(("first", "second"), [(0, 5), (6, 5), (0, 0), (-1, 3)])
def test_no_consistency_proof_for_impossible_sizes(first: int, second: int) -> None:
    with pytest.raises(ProofError):
        consistency_proof(TREE, first, second)


PROOF_SIZES = st.integers(min_value=1, max_value=300)


@given(size=PROOF_SIZES, data=st.data())
def test_any_change_to_an_inclusion_proof_fails(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    good_root = _mth(LEAVES[:size])
    proof = inclusion_proof(TREE, index, size)
    leaf = leaf_hash(LEAVES[index])
    change = data.draw(st.sampled_from(["index", "size", "bit", "drop", "extra", "leaf", "root"]))
    if change == "index":
        assert not verify_inclusion(
            leaf,
            data.draw(st.integers(0, size - 1).filter(lambda i: i != index)) if size > 1 else index + 1,
            size,
            proof,
            good_root,
        )
    elif change == "size":
        bigger = size + data.draw(st.integers(1, 5))  # the real root of a larger tree: a path for
        assert not verify_inclusion(leaf, index, bigger, proof, _mth(EXTRA[:bigger]))  # the old size
    elif change == "bit" and proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        flipped = bytearray(proof[at])
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert not verify_inclusion(
            leaf, index, size, [*proof[:at], bytes(flipped), *proof[at + 1 :]], good_root
        )
    elif change == "drop" and proof:
        assert not verify_inclusion(leaf, index, size, proof[:-1], good_root)
    elif change == "extra":
        assert not verify_inclusion(leaf, index, size, [*proof, b"\x07" * 32], good_root)
    elif change == "leaf":
        assert not verify_inclusion(leaf_hash(b"forged"), index, size, proof, good_root)
    elif change == "root":
        assert not verify_inclusion(leaf, index, size, proof, EMPTY_ROOT)


@given(second=PROOF_SIZES, data=st.data())
def test_any_change_to_a_consistency_proof_fails(second: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(1, second))
    first_root, second_root = _mth(LEAVES[:first]), _mth(LEAVES[:second])
    proof = consistency_proof(TREE, first, second)
    change = data.draw(st.sampled_from(["bit", "drop", "extra", "first_root", "second_root", "sizes"]))
    if change == "bit" and proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        flipped = bytearray(proof[at])
        flipped[data.draw(st.integers(0, 31))] ^= 0x01
        assert not verify_consistency(
            first, second, first_root, second_root, [*proof[:at], bytes(flipped), *proof[at + 1 :]]
        )
    elif change == "drop" and proof:
        assert not verify_consistency(first, second, first_root, second_root, proof[:-1])
    elif change == "extra":
        assert not verify_consistency(first, second, first_root, second_root, [*proof, b"\x07" * 32])
    elif change == "first_root":
        assert not verify_consistency(first, second, _mth(LEAVES[1 : first + 1]), second_root, proof)
    elif change == "second_root":
        assert not verify_consistency(first, second, first_root, _mth(LEAVES[1 : second + 1]), proof)
    elif change == "sizes":
        bigger = second + data.draw(st.integers(1, 5))
        assert not verify_consistency(first, bigger, first_root, _mth(EXTRA[:bigger]), proof)
