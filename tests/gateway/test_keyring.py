"""The keyring file: creation mode, refusal of unusable files, passphrase wrapping, rotation."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gateway.keyring import (
    Keyring,
    KeyringError,
    load_keyring,
    open_or_create_keyring,
    save_keyring,
)


def test_created_keyring_is_private_and_reloads_identically(tmp_path: Path) -> None:
    path = tmp_path / "var" / "keyring.json"
    created = open_or_create_keyring(path, None, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_keyring(path)
    assert again == created
    assert again.active_data_key() == created.active_data_key()


def test_missing_keyring_is_not_created_when_creation_is_off(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="CGW_KEYRING: file not found"):
        open_or_create_keyring(tmp_path / "absent.json", None, create=False)
    assert not (tmp_path / "absent.json").exists()


def test_existing_keyring_is_never_replaced_by_creation(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = open_or_create_keyring(path, None, create=True)
    second = open_or_create_keyring(path, None, create=True)
    assert second.keyring_id == first.keyring_id


def test_world_readable_keyring_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    save_keyring(Keyring.create(), path)
    path.chmod(0o644)
    with pytest.raises(KeyringError, match="0644"):
        load_keyring(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not json", "corrupt"),
        (b'{"format": "something-else"}', "not a keyring file"),
        (b'{"format": "consent-gateway-keyring/1", "keyring_id": "x"}', "corrupt"),
    ],
)
def test_malformed_keyring_is_refused_naming_the_setting(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "keyring.json"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(KeyringError, match=reason) as caught:
        load_keyring(path)
    assert caught.value.setting == "CGW_KEYRING"


def test_directory_given_as_keyring_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir(mode=0o700)
    with pytest.raises(KeyringError, match="directory"):
        load_keyring(folder)


def test_passphrase_protected_keyring_holds_no_key_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = Keyring.create()
    save_keyring(ring, path, "correct horse battery")
    document = json.loads(path.read_text())
    assert "keys" not in document
    assert "sealed_keys" in document
    assert load_keyring(path, "correct horse battery") == ring


def test_wrong_or_missing_passphrase_is_refused_naming_the_passphrase_setting(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keyring.json"
    save_keyring(Keyring.create(), path, "correct horse battery")
    with pytest.raises(KeyringError, match="wrong passphrase") as wrong:
        load_keyring(path, "incorrect horse battery")
    assert wrong.value.setting == "CGW_KEYRING_PASSPHRASE"
    with pytest.raises(KeyringError, match="no passphrase"):
        load_keyring(path, None)


def test_short_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="at least 10"):
        save_keyring(Keyring.create(), tmp_path / "k.json", "short")


def test_rotation_adds_keys_and_keeps_the_old_ones(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = Keyring.create()
    save_keyring(ring, path)
    rotated = ring.rotate_data_key().rotate_signing_key("token")
    save_keyring(rotated, path)
    reloaded = load_keyring(path)
    assert [k.kid for k in reloaded.data_keys] == [k.kid for k in rotated.data_keys]
    assert len(reloaded.data_keys) == 2
    assert reloaded.data_key(ring.active_data_key()[0]) == ring.active_data_key()[1]
    assert reloaded.active_signing_key("token").kid != ring.active_signing_key("token").kid
    assert reloaded.signing_key(ring.active_signing_key("token").kid, "token") is not None
    assert reloaded.keyring_id == ring.keyring_id


def test_keyring_repr_never_shows_key_material() -> None:
    ring = Keyring.create()
    shown = repr(ring)
    assert ring.active_data_key()[1].hex() not in shown
    assert repr(ring.active_data_key()[1]) not in shown
    assert repr(ring.index_key) not in shown
