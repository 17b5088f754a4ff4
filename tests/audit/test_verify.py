"""The offline verifier against every tamper case of the issue (reference T1-T8, T11, T13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.bundle import Bundle, StoredCheckpoint, read_bundle, write_bundle
from audit.checkpoint import Checkpoint, NoteVerifier, public_bytes, sign
from audit.cosignature import CosignerKey, cosign
from audit.errors import VerificationFailed
from audit.merkle import CompactRange, leaf_hash
from audit.record import AuditRecord, Kind
from audit.recorded_window import DEFAULT_CLOCK_SKEW, DEFAULT_MAX_LAG, recorded_windows
from audit.verify import verify_bundle

ORIGIN = "audit.example.org/test/2026"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VERIFIER = NoteVerifier(ORIGIN, public_bytes(KEY))


def _leaf(i: int, origin: str = ORIGIN) -> bytes:
    return AuditRecord(
        kind=Kind.DECISION,
        action="pull_flags",
        decision="permit" if i % 3 else "deny",
        outcome="disclosed",
        recorded=datetime(2026, 11, 23, tzinfo=UTC),
        requester={"org": "pd", "client": "pd-rms", "user": f"officer-{i}"},
        purpose="LAW",
        person_id=f"person-{i % 7}",
        reasons=["LE-FLAGS"],
    ).leaf(origin)


def _log(leaves: list[bytes], sizes: list[int], key: Ed25519PrivateKey = KEY) -> Bundle:
    """A log as the gateway keeps it: leaves, their hashes, checkpoints signed at `sizes`."""
    compact, notes = CompactRange(), []
    for size, leaf in enumerate(leaves, start=1):
        compact.append(leaf_hash(leaf))
        if size in sizes:
            notes.append(StoredCheckpoint(size, sign(Checkpoint(ORIGIN, size, compact.root()), ORIGIN, key)))
    return Bundle(ORIGIN, [VERIFIER.encode()], list(leaves), [leaf_hash(x) for x in leaves], notes)


LEAVES = [_leaf(i) for i in range(40)]
SIZES = [5, 10, 17, 32, 40]


def _fails_at(bundle: Bundle, **kwargs: object) -> tuple[int | None, str]:
    with pytest.raises(VerificationFailed) as failure:
        verify_bundle(bundle, trusted=[VERIFIER], **kwargs)  # type: ignore[arg-type]
    return failure.value.index, failure.value.reason


def _write(directory: Path, bundle: Bundle) -> None:
    write_bundle(
        directory,
        origin=ORIGIN,
        verifier_keys=bundle.verifier_keys,
        leaves=((i, leaf, leaf_hash(leaf)) for i, leaf in enumerate(bundle.leaves)),
        checkpoints=bundle.checkpoints,
        exported_at="2026-11-23T00:00:00Z",
    )


def test_an_untouched_log_verifies_and_says_how_much_is_covered(tmp_path: Path) -> None:
    bundle = _log(LEAVES, SIZES)
    _write(tmp_path, bundle)
    report = verify_bundle(read_bundle(tmp_path), trusted=[VERIFIER])
    assert (report.entries, report.checkpoints, report.covered) == (40, 5, 40)


@pytest.mark.parametrize(
    "lines",
    ["0 00\n1\n", "0 00 ff\n1 00\n", "0 00\n1 00"],
    ids=["a-line-without-its-hash", "a-line-with-a-third-field", "no-final-newline"],
)
def test_a_leaf_hash_file_not_in_the_bundle_format_is_refused(tmp_path: Path, lines: str) -> None:
    bundle = _log(LEAVES[:2], [2])
    _write(tmp_path, bundle)
    (tmp_path / "leaf_hashes.txt").write_text(lines)
    with pytest.raises(ValueError, match="one '<index> <hex>' line per entry"):
        read_bundle(tmp_path)


def test_a_gap_in_the_stored_indices_is_named() -> None:
    bundle = _log(LEAVES, SIZES)
    bundle = Bundle(
        ORIGIN,
        bundle.verifier_keys,
        bundle.leaves,
        bundle.leaf_hashes,
        bundle.checkpoints,
        [*range(20), *range(21, 41)],
    )
    assert _fails_at(bundle) == (20, "entry is missing (the stored indices have a gap)")


def test_one_changed_byte_is_named_by_its_index() -> None:
    leaves = list(LEAVES)
    leaves[12] = leaves[12].replace(b"officer-12", b"officer-13")
    bundle = _log(LEAVES, SIZES)
    bundle.leaves[12] = leaves[12]
    assert _fails_at(bundle)[0] == 12


def test_a_changed_leaf_with_its_hash_rewritten_fails_against_the_signed_root() -> None:
    bundle = _log(LEAVES, SIZES)
    bundle.leaves[12] = bundle.leaves[12].replace(b"officer-12", b"officer-13")
    assert bundle.leaf_hashes is not None
    bundle.leaf_hashes[12] = leaf_hash(bundle.leaves[12])  # an insider without the signing key
    index, reason = _fails_at(bundle)
    assert index == 10
    assert "signed at size 17" in reason


def test_a_deleted_row_is_caught() -> None:
    bundle = _log(LEAVES, SIZES)
    del bundle.leaves[20]
    assert bundle.leaf_hashes is not None
    del bundle.leaf_hashes[20]
    assert _fails_at(bundle)[0] == 17  # entries 17..31 no longer hash to the root at size 32


def test_two_swapped_rows_are_caught() -> None:
    bundle = _log(LEAVES, SIZES)
    assert bundle.leaf_hashes is not None
    bundle.leaves[3], bundle.leaves[4] = bundle.leaves[4], bundle.leaves[3]
    bundle.leaf_hashes[3], bundle.leaf_hashes[4] = bundle.leaf_hashes[4], bundle.leaf_hashes[3]
    assert _fails_at(bundle)[0] == 0


def test_a_truncated_tail_is_caught_by_the_last_checkpoint() -> None:
    bundle = _log(LEAVES, SIZES)
    del bundle.leaves[35:]
    assert bundle.leaf_hashes is not None
    del bundle.leaf_hashes[35:]
    assert _fails_at(bundle) == (35, "a checkpoint covers 40 entries but the log holds 35")


def test_truncation_with_the_checkpoints_removed_is_caught_by_the_auditor_s_checkpoint() -> None:
    held = _log(LEAVES, SIZES).checkpoints[-1].note  # the auditor fetched size 40 last month
    bundle = _log(LEAVES[:35], [5, 10, 17, 32])  # the insider rolled the database back
    assert verify_bundle(bundle, trusted=[VERIFIER]).entries == 35  # looks fine on its own
    assert _fails_at(bundle, known_notes=[held])[0] == 35


def test_a_forked_tail_is_caught() -> None:
    forked = [*LEAVES[:33], *(_leaf(i + 100) for i in range(7))]
    bundle = _log(forked, [5, 10, 17, 32])  # consistent up to 32, then another history...
    original = _log(LEAVES, SIZES)
    bundle.checkpoints.append(original.checkpoints[-1])  # ...while size 40 was signed before
    assert _fails_at(bundle)[0] == 32


def test_two_roots_for_one_size_are_a_fork() -> None:
    bundle = _log(LEAVES, SIZES)
    other = _log([*LEAVES[:39], _leaf(99)], [40])
    bundle.checkpoints.append(other.checkpoints[-1])
    assert "forked" in _fails_at(bundle)[1]


def test_a_checkpoint_signed_by_another_key_is_refused() -> None:
    bundle = _log(LEAVES, SIZES)
    rogue = Ed25519PrivateKey.generate()
    bundle.checkpoints[2] = _log(LEAVES, [17], key=rogue).checkpoints[0]
    assert "no signature by a trusted key" in _fails_at(bundle)[1]


def test_a_leaf_of_another_log_is_refused() -> None:
    leaves = [*LEAVES[:6], _leaf(6, origin="audit.example.org/staging/2026"), *LEAVES[7:]]
    index, reason = _fails_at(_log(leaves, SIZES))
    assert (index, reason) == (6, "the record belongs to another log")


def test_a_non_canonical_leaf_is_refused_even_when_consistently_hashed_and_signed() -> None:
    leaves = list(LEAVES)
    leaves[8] = leaves[8].replace(b'"action":', b'"action": ')
    assert _fails_at(_log(leaves, SIZES))[0] == 8


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 6), min_size=1, max_size=12), st.data())
def test_any_sequence_of_appends_and_checkpoints_verifies_and_any_changed_byte_fails(
    batches: list[int], data: st.DataObject
) -> None:
    leaves: list[bytes] = []
    sizes: list[int] = []
    for batch in batches:
        leaves.extend(_leaf(len(leaves) + i) for i in range(batch))
        sizes.append(len(leaves))
    assert verify_bundle(_log(leaves, sizes), trusted=[VERIFIER]).covered == len(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    at = data.draw(st.integers(0, len(leaves[index]) - 1))
    flipped = bytearray(leaves[index])
    flipped[at] ^= 1 << data.draw(st.integers(0, 7))
    bundle = _log(leaves, sizes)
    bundle.leaves[index] = bytes(flipped)
    assert bundle.leaf_hashes is not None
    bundle.leaf_hashes[index] = leaf_hash(bytes(flipped))  # even with its hash rewritten
    failed_at, _reason = _fails_at(bundle)
    assert failed_at is not None
    assert failed_at <= index


# --- recorded times against witness cosignature times (reference 2.9 step 5, T7) --------------

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
WITNESS = CosignerKey("witness.example", public_bytes(WITNESS_KEY))


def _timed_log(offsets: list[int], cosigned: dict[int, int]) -> Bundle:
    """Leaf i recorded T0 + offsets[i] seconds; the checkpoint of each size in `cosigned`
    cosigned by WITNESS at T0 + that many seconds."""
    leaves = [
        AuditRecord(
            kind=Kind.DECISION,
            action="pull_flags",
            decision="permit",
            outcome="disclosed",
            recorded=T0 + timedelta(seconds=offset),
            requester={"org": "pd"},
            purpose="LAW",
        ).leaf(ORIGIN)
        for offset in offsets
    ]
    bundle = _log(leaves, sorted(cosigned))
    notes = []
    for stored in bundle.checkpoints:
        body = stored.note[: stored.note.index("\n\n") + 1]
        at = int((T0 + timedelta(seconds=cosigned[stored.size])).timestamp())
        notes.append(
            StoredCheckpoint(stored.size, stored.note + cosign(body, WITNESS.name, WITNESS_KEY, at).line)
        )
    return Bundle(ORIGIN, bundle.verifier_keys, bundle.leaves, bundle.leaf_hashes, notes)


def test_recorded_times_that_fit_the_cosignatures_verify() -> None:
    bundle = _timed_log(list(range(12)), {4: 10, 8: 20, 12: 30})
    report = verify_bundle(bundle, trusted=[VERIFIER], witnesses=[WITNESS])
    assert (report.witnessed, report.witnessed_at) == (12, int((T0 + timedelta(seconds=30)).timestamp()))


def test_a_post_dated_record_is_named() -> None:
    offsets = list(range(12))
    offsets[6] = 20 + DEFAULT_CLOCK_SKEW + 1  # after the size-8 checkpoint that holds it was cosigned
    index, reason = _fails_at(_timed_log(offsets, {4: 10, 8: 20, 12: 30}), witnesses=[WITNESS])
    assert (index, "post-dated" in reason) == (6, True)


def test_a_backdated_append_is_named() -> None:
    offsets = list(range(12))
    offsets[9] = 20 - DEFAULT_MAX_LAG - 1  # long before the size-8 checkpoint it came after
    index, reason = _fails_at(_timed_log(offsets, {4: 10, 8: 20, 12: 30}), witnesses=[WITNESS])
    assert (index, "backdated" in reason) == (9, True)
    assert verify_bundle(_timed_log(offsets, {4: 10, 8: 20, 12: 30}), trusted=[VERIFIER]).entries == 12


def test_windows_split_at_each_witnessed_size() -> None:
    windows = recorded_windows([(8, 2000), (4, 1000), (8, 1500)], clock_skew=0, max_lag=0)
    assert [w.end for w in windows] == [4, 8, 2**63]
    assert windows[0].earliest is None
    assert windows[0].latest == "1970-01-01T00:16:40.000000Z"  # the earliest cosignature covering
    assert windows[1].earliest == "1970-01-01T00:16:40.000000Z"
    assert windows[1].latest == "1970-01-01T00:25:00.000000Z"
    assert (windows[2].earliest, windows[2].latest) == ("1970-01-01T00:33:20.000000Z", None)
