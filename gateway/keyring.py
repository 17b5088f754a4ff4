"""The keyring file: every secret key the gateway holds, kept outside the database.

Invariants:
- The file is created with mode 0600 and refused if group or others can read it (like ssh keys).
- Keys are only ever added: rotation appends a new key and makes it active, so anything
  sealed or signed under an older key stays readable and verifiable.
- Writes are atomic (temporary file, fsync, rename), so a crash never leaves half a keyring.
- With a passphrase the key material is wrapped with AES-256-GCM under a scrypt-derived key
  (CJIS Security Policy 5.10.1.2.2: encryption at rest with a passphrase).

Example:
    >>> ring = Keyring.create()
    >>> kid, key = ring.active_data_key()
    >>> ring.rotate_data_key().active_data_key()[0] != kid
    True
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import stat
import tempfile
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

FORMAT = "consent-gateway-keyring/1"
SETTING = "CGW_KEYRING"
PASSPHRASE_SETTING = "CGW_KEYRING_PASSPHRASE"  # noqa: S105 - a variable name
DATA_KEY_BYTES = 32  # AES-256
INDEX_KEY_BYTES = 32  # HMAC-SHA256 blind-index key (DESIGN.md 4)
MIN_PASSPHRASE_CHARS = 10  # CJIS Security Policy 5.10.1.2.2
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class KeyringError(Exception):
    """The keyring cannot be used; `setting` names the variable to fix. Never carries key bytes."""

    def __init__(self, reason: str, setting: str = SETTING) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


@dataclass(frozen=True)
class DataKey:
    kid: str
    created_at: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key; `purpose` separates token signing from later uses (e.g. audit checkpoints)."""

    kid: str
    purpose: str
    created_at: str
    secret: bytes = field(repr=False)

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.secret)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


@dataclass(frozen=True)
class Keyring:
    """An immutable view of the keyring file; rotation returns a new Keyring."""

    keyring_id: str
    created_at: str
    data_keys: tuple[DataKey, ...]
    signing_keys: tuple[SigningKey, ...]
    index_key: bytes = field(repr=False)

    @classmethod
    def create(cls) -> Keyring:
        now = _now()
        return cls(
            keyring_id=str(uuid.uuid4()),
            created_at=now,
            data_keys=(_new_data_key(now),),
            signing_keys=(_new_signing_key("token", now), _new_signing_key("audit", now)),
            index_key=secrets.token_bytes(INDEX_KEY_BYTES),
        )

    def active_data_key(self) -> tuple[str, bytes]:
        """The newest data key: new records are sealed under it."""
        key = self.data_keys[-1]
        return key.kid, key.secret

    def data_key(self, kid: str) -> bytes | None:
        for key in self.data_keys:
            if key.kid == kid:
                return key.secret
        return None

    def active_signing_key(self, purpose: str) -> SigningKey:
        """The newest signing key for a purpose.

        Raises:
            KeyringError: the keyring holds no key for that purpose.
        """
        for key in reversed(self.signing_keys):
            if key.purpose == purpose:
                return key
        option = "--audit" if purpose == "audit" else "--signing"
        raise KeyringError(
            f"holds no signing key for {purpose!r}; run `consent-gateway keys rotate {option}`"
        )

    def signing_key(self, kid: str, purpose: str) -> SigningKey | None:
        for key in self.signing_keys:
            if key.kid == kid and key.purpose == purpose:
                return key
        return None

    def rotate_data_key(self) -> Keyring:
        return replace(self, data_keys=(*self.data_keys, _new_data_key(_now())))

    def rotate_signing_key(self, purpose: str) -> Keyring:
        return replace(self, signing_keys=(*self.signing_keys, _new_signing_key(purpose, _now())))

    def _secrets_document(self) -> dict[str, Any]:
        return {
            "data_keys": [
                {"kid": k.kid, "created_at": k.created_at, "key": _b64(k.secret)} for k in self.data_keys
            ],
            "signing_keys": [
                {
                    "kid": k.kid,
                    "purpose": k.purpose,
                    "alg": "Ed25519",
                    "created_at": k.created_at,
                    "private_key": _b64(k.secret),
                }
                for k in self.signing_keys
            ],
            "index_key": _b64(self.index_key),
        }


def load_keyring(path: Path, passphrase: str | None = None) -> Keyring:
    """Read and check a keyring file.

    Raises:
        KeyringError: missing, unreadable, too permissive, malformed, or the passphrase is wrong.
    """
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyringError("file not found; create one with `consent-gateway keys init`") from None
    except PermissionError:
        raise KeyringError("file is not readable by this user") from None
    except IsADirectoryError:
        raise KeyringError("is a directory, not a keyring file") from None
    except OSError as exc:
        raise KeyringError(f"cannot read file ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyringError(f"file mode is {stat.S_IMODE(mode):04o}; keys must be private (chmod 600)")
    try:
        document = json.loads(raw)
        if document.get("format") != FORMAT:
            raise KeyringError(f"not a keyring file (expected format {FORMAT!r})")
        return _parse(document, passphrase)
    except KeyringError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyringError("file is corrupt (not a well-formed keyring)") from None


def open_or_create_keyring(path: Path, passphrase: str | None, *, create: bool) -> Keyring:
    """Load the keyring, creating it first (0600) when it is absent and `create` is allowed.

    Raises:
        KeyringError: as `load_keyring`, or absent while `create` is false.
    """
    if create and not path.exists():
        with contextlib.suppress(FileExistsError):  # another process won the race: load theirs
            save_keyring(Keyring.create(), path, passphrase, exclusive=True)
    return load_keyring(path, passphrase)


def save_keyring(
    keyring: Keyring, path: Path, passphrase: str | None = None, *, exclusive: bool = False
) -> None:
    """Write the keyring atomically with mode 0600.

    Raises:
        KeyringError: the file cannot be written, or the passphrase is too short.
        FileExistsError: `exclusive` and the file already exists.
    """
    document: dict[str, Any] = {
        "format": FORMAT,
        "keyring_id": keyring.keyring_id,
        "created_at": keyring.created_at,
    }
    secrets_doc = keyring._secrets_document()
    if passphrase:
        if len(passphrase) < MIN_PASSPHRASE_CHARS:
            raise KeyringError(
                f"passphrase must have at least {MIN_PASSPHRASE_CHARS} characters",
                PASSPHRASE_SETTING,
            )
        salt = secrets.token_bytes(16)
        nonce = secrets.token_bytes(12)
        kek = _derive(passphrase, salt, _SCRYPT)
        sealed = AESGCM(kek).encrypt(nonce, json.dumps(secrets_doc).encode(), keyring.keyring_id.encode())
        document["protection"] = {"kdf": "scrypt", "salt": _b64(salt), **_SCRYPT}
        document["sealed_keys"] = _b64(nonce + sealed)
    else:
        document["keys"] = secrets_doc
    data = (json.dumps(document, indent=2) + "\n").encode()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".keyring-", dir=path.parent)
    except OSError as exc:
        raise KeyringError(f"cannot write file ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600 already
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp_name, path)  # raises FileExistsError if another writer got there first
        else:
            os.replace(tmp_name, path)
    except FileExistsError:
        raise
    except OSError as exc:
        raise KeyringError(f"cannot write file ({exc.strerror})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def _parse(document: dict[str, Any], passphrase: str | None) -> Keyring:
    if "sealed_keys" in document:
        if not passphrase:
            raise KeyringError("keyring is passphrase-protected but no passphrase is set", PASSPHRASE_SETTING)
        protection = document["protection"]
        params = {name: int(protection[name]) for name in ("n", "r", "p")}
        kek = _derive(passphrase, _unb64(protection["salt"]), params)
        blob = _unb64(document["sealed_keys"])
        try:
            plain = AESGCM(kek).decrypt(blob[:12], blob[12:], document["keyring_id"].encode())
        except InvalidTag:
            raise KeyringError("wrong passphrase for this keyring", PASSPHRASE_SETTING) from None
        keys = json.loads(plain)
    else:
        keys = document["keys"]
    data_keys = tuple(
        DataKey(kid=k["kid"], created_at=k["created_at"], secret=_unb64(k["key"])) for k in keys["data_keys"]
    )
    signing_keys = tuple(
        SigningKey(
            kid=k["kid"],
            purpose=k["purpose"],
            created_at=k["created_at"],
            secret=_unb64(k["private_key"]),
        )
        for k in keys["signing_keys"]
    )
    index_key = _unb64(keys["index_key"])
    if not data_keys or any(len(k.secret) != DATA_KEY_BYTES for k in data_keys):
        raise ValueError("data keys")
    if any(len(k.secret) != 32 for k in signing_keys) or len(index_key) != INDEX_KEY_BYTES:
        raise ValueError("key length")
    return Keyring(
        keyring_id=str(document["keyring_id"]),
        created_at=str(document["created_at"]),
        data_keys=data_keys,
        signing_keys=signing_keys,
        index_key=index_key,
    )


def _derive(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(
        passphrase.encode()
    )


def _new_data_key(now: str) -> DataKey:
    return DataKey(kid=f"dk-{secrets.token_hex(6)}", created_at=now, secret=AESGCM.generate_key(256))


def _new_signing_key(purpose: str, now: str) -> SigningKey:
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return SigningKey(kid=f"sk-{secrets.token_hex(6)}", purpose=purpose, created_at=now, secret=raw)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
