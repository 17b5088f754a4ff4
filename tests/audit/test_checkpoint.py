"""Signed-note checkpoints: signing, verification, rotation, and the forgeries of T13."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from audit.checkpoint import (
    Checkpoint,
    NoteVerifier,
    add_signature,
    key_id,
    open_note,
    public_bytes,
    sign,
)
from audit.errors import CheckpointError

ORIGIN = "audit.example.org/test/2026"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
VERIFIER = NoteVerifier(ORIGIN, public_bytes(KEY))
CHECKPOINT = Checkpoint(ORIGIN, 42, bytes(range(32)))


def test_a_signed_checkpoint_has_the_c2sp_layout_and_opens_with_its_key() -> None:
    note = sign(CHECKPOINT, ORIGIN, KEY)
    lines = note.split("\n")
    assert lines[:4] == [ORIGIN, "42", base64.b64encode(bytes(range(32))).decode(), ""]
    assert lines[4].startswith(f"\u2014 {ORIGIN} ")
    blob = base64.b64decode(lines[4].rsplit(" ", 1)[1])
    assert (len(blob), blob[:4]) == (68, key_id(ORIGIN, public_bytes(KEY)))
    opened = open_note(note, [VERIFIER], origin=ORIGIN)
    assert (opened.checkpoint, opened.signed_by) == (CHECKPOINT, (ORIGIN,))


def test_the_verifier_key_string_round_trips_and_checks_its_key_id() -> None:
    text = VERIFIER.encode()
    assert text.startswith(f"{ORIGIN}+{VERIFIER.key_id.hex()}+")
    assert NoteVerifier.decode(text) == VERIFIER
    name, _kid, key = text.split("+", 2)
    with pytest.raises(CheckpointError, match="key id"):
        NoteVerifier.decode(f"{name}+{'00' * 4}+{key}")


def test_rotation_old_and_new_verifiers_both_accept_a_dual_signed_note() -> None:
    note = add_signature(sign(CHECKPOINT, ORIGIN, KEY), "audit-2027", OTHER)
    assert open_note(note, [VERIFIER]).signed_by == (ORIGIN,)
    assert open_note(note, [NoteVerifier("audit-2027", public_bytes(OTHER))]).signed_by == ("audit-2027",)


def test_a_note_signed_only_by_an_unknown_key_is_refused() -> None:
    with pytest.raises(CheckpointError, match="no signature by a trusted key"):
        open_note(sign(CHECKPOINT, ORIGIN, OTHER), [VERIFIER])


def test_the_same_name_with_another_key_is_ignored_not_trusted() -> None:
    with pytest.raises(CheckpointError, match="no signature by a trusted key"):
        open_note(sign(CHECKPOINT, ORIGIN, OTHER), [VERIFIER])


def test_a_checkpoint_of_another_log_is_refused() -> None:
    staging = Checkpoint("audit.example.org/staging/2026", 42, bytes(32))
    with pytest.raises(CheckpointError, match="another log"):
        open_note(sign(staging, ORIGIN, KEY), [VERIFIER], origin=ORIGIN)


@pytest.mark.parametrize(
    "edit",
    [
        lambda n: n.replace("\n42\n", "\n43\n"),  # size
        lambda n: n.replace("\n42\n", "\n042\n"),  # leading zero
        lambda n: n.replace(ORIGIN + "\n", ORIGIN + "x\n", 1),  # origin
        lambda n: n[:-1],  # no final newline
        lambda n: n.replace("\n\n", "\n\n\n"),  # extra blank line
        lambda n: n.replace("\n\n", "\n"),  # no signature block
        lambda n: n.replace("AAECAwQF", "AAECAwQG"),  # root
        lambda n: n.replace("\u2014", "-"),  # not an em dash
        lambda n: n + "\u2014 " + ORIGIN + " !!!!\n",  # bad base64
        lambda n: n.replace("42", "4\t2"),  # control character
        lambda n: n + ("\u2014 other AAAAAAAAAAAA\n" * 20),  # too many signatures
    ],
)
def test_edited_or_malformed_notes_are_refused(edit: object) -> None:
    note = sign(CHECKPOINT, ORIGIN, KEY)
    assert callable(edit)
    with pytest.raises(CheckpointError):
        open_note(edit(note), [VERIFIER], origin=ORIGIN)


def test_a_name_with_a_plus_or_space_cannot_sign() -> None:
    for bad in ("a+b", "a b", ""):
        with pytest.raises(CheckpointError):
            sign(CHECKPOINT, bad, KEY)


@given(st.binary(max_size=400))
def test_arbitrary_text_never_raises_anything_but_checkpoint_error(data: bytes) -> None:
    try:
        open_note(data.decode("utf-8", errors="replace"), [VERIFIER])
    except CheckpointError:
        return
    raise AssertionError("random text verified as a checkpoint")


@given(st.integers(0, 2**40), st.binary(min_size=32, max_size=32), st.data())
def test_any_changed_character_of_a_signed_note_is_refused(
    size: int, digest: bytes, data: st.DataObject
) -> None:
    note = sign(Checkpoint(ORIGIN, size, digest), ORIGIN, KEY)
    body_end = note.index("\n\n") + 1
    at = data.draw(st.integers(0, body_end - 2))  # any character of the signed text but the last newline
    replacement = data.draw(st.sampled_from("0123456789abcdefXYZ/+=."))
    if note[at] == replacement:
        return
    with pytest.raises(CheckpointError):
        open_note(note[:at] + replacement + note[at + 1 :], [VERIFIER], origin=ORIGIN)
