"""Audit records and their leaf bytes: RFC 8785 (JCS) canonical JSON.

Invariants:
- One record = one decision about one person (IHE BALP); records hold ids and codes only, never
  names or payloads (DESIGN.md 10).
- The leaf is the JCS bytes of the record, stored and served verbatim; a verifier parses the
  leaf strictly (duplicate keys refused) and requires re-canonicalising to give the same bytes.
- Strings are NFC-normalised before canonicalising, there are no floats (integers within ±2^53
  only), timestamps are `YYYY-MM-DDTHH:MM:SS.ffffffZ`, and a leaf is at most `MAX_LEAF_BYTES`.
- Every record names its log (`log` = the origin) and carries a random nonce, so a leaf hash in
  someone else's proof cannot be used to confirm a guessed record.
"""

from __future__ import annotations

import base64
import json
import secrets
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import rfc8785

from audit.errors import RecordError

VERSION = 1
MAX_LEAF_BYTES = 16384
_MAX_INT = 2**53 - 1


class Kind:
    """What a record is about."""

    DECISION = "decision"  # a policy decision on a request (push, pull, lookup, consent, ...)
    AUDIT_READ = "access.audit-read"  # a read of the audit log itself (CJIS AU-9)
    ACCOUNTING_SUSPENSION = "accounting.suspension"  # 45 CFR 164.528(a)(2), reference/audit-log.md 2.7


@dataclass(frozen=True)
class AuditRecord:
    """One decision about one person (or about no person, e.g. a refused push)."""

    kind: str
    action: str
    decision: str  # permit | deny
    outcome: str  # what happened after the decision: e.g. stored, disclosed, refused, replayed
    recorded: datetime
    requester: Mapping[str, str | None]  # org, client, user (the token subject)
    purpose: str
    person_id: str | None = None
    reasons: Sequence[str] = ()
    policy_version: str = ""
    data_classes: Sequence[str] = ()
    obligations: Sequence[str] = ()  # obligations the gateway applied
    request_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)  # codes and ids only

    def to_document(self, origin: str, nonce: str | None = None) -> dict[str, Any]:
        return {
            "v": VERSION,
            "log": origin,
            "nonce": nonce or base64.b64encode(secrets.token_bytes(16)).decode(),
            "kind": self.kind,
            "recorded": timestamp(self.recorded),
            "request_id": self.request_id,
            "requester": dict(self.requester),
            "person_id": self.person_id,
            "action": self.action,
            "purpose": self.purpose,
            "decision": self.decision,
            "reasons": sorted(set(self.reasons)),
            "policy_version": self.policy_version,
            "data_classes": sorted(set(self.data_classes)),
            "obligations": sorted(set(self.obligations)),
            "outcome": self.outcome,
            "detail": dict(self.detail),
        }

    def leaf(self, origin: str) -> bytes:
        return canonical(self.to_document(origin))


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(document: Mapping[str, Any]) -> bytes:
    """The JCS bytes of a document after NFC normalisation.

    Raises:
        RecordError: floats, out-of-range integers, non-string keys, or too large.
    """
    normalised = _normalise(document)
    data = _orjson_jcs(normalised)
    if data is None:
        try:
            data = rfc8785.dumps(normalised)
        except rfc8785.CanonicalizationError as exc:  # e.g. a lone surrogate
            raise RecordError(f"record cannot be canonicalised ({type(exc).__name__})") from None
    if len(data) > MAX_LEAF_BYTES:
        raise RecordError(f"record is {len(data)} bytes; at most {MAX_LEAF_BYTES} allowed")
    return data


def parse_leaf(leaf: bytes) -> dict[str, Any]:
    """A leaf's record, checked to be exactly canonical.

    Raises:
        RecordError: not UTF-8 JSON, duplicate keys, floats, not an object, or not canonical bytes.
    """
    if len(leaf) > MAX_LEAF_BYTES:
        raise RecordError("leaf is too large")
    certain = _certainly_canonical(leaf)
    if certain is not None:
        return certain
    try:
        document = json.loads(
            leaf.decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_float=_no_float,
            parse_constant=_no_float,
            parse_int=_checked_int,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecordError) as exc:
        raise RecordError(f"leaf is not strict JSON ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise RecordError("leaf is not a JSON object")
    if canonical(document) != leaf:
        raise RecordError("leaf is not in canonical (RFC 8785, NFC) form")
    return document


_SORTED_53_BIT = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


def _certainly_canonical(leaf: bytes) -> dict[str, Any] | None:
    """The leaf's record when it is certainly canonical, without the (pure Python) JCS encoder.

    orjson with sorted keys writes exactly JCS for documents of strings, integers within ±2^53,
    booleans, nulls, arrays and objects — except that JCS sorts keys by UTF-16 code units, which
    is code point order only while the text stays in the Basic Multilingual Plane. So the leaf is
    canonical when it is BMP, NFC text that orjson re-serialises to the same bytes (which also
    rules out duplicate keys, escapes JCS would not write and whitespace) and holds no float
    (orjson refuses big integers itself, but may write a float back unchanged). None means "not
    certain": the caller does the full check.
    """
    if not leaf.isascii():
        try:
            text = leaf.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if max(text) > "\uffff" or not unicodedata.is_normalized("NFC", text):
            return None
    try:
        document = orjson.loads(leaf)
        if type(document) is not dict or orjson.dumps(document, option=_SORTED_53_BIT) != leaf:
            return None
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    return None if _holds_float(document.values()) else document


def _orjson_jcs(normalised: dict[str, Any]) -> bytes | None:
    """JCS bytes written by orjson (C) rather than the pure-Python encoder, where they are the
    same (see `_certainly_canonical`): `_normalise` has ruled out floats and big integers, so
    they differ only in the order of keys outside the Basic Multilingual Plane (JCS sorts by
    UTF-16); any text outside it takes the slow path. None: use the slow path (also for what
    orjson refuses, e.g. a lone surrogate)."""
    try:
        data = orjson.dumps(normalised, option=_SORTED_53_BIT)
    except orjson.JSONEncodeError:
        return None
    if not data.isascii() and max(data.decode("utf-8")) > "\uffff":
        return None
    return data


def _holds_float(values: Iterable[Any]) -> bool:
    for value in values:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            continue
        if kind is float:
            return True
        if _holds_float(value.values() if kind is dict else value):  # an object or an array
            return True
    return False


def _checked_int(digits: str) -> int:
    value = int(digits)
    if abs(value) > _MAX_INT:
        raise RecordError("integer outside ±2^53")
    return value


def _no_float(_text: str) -> Any:
    raise RecordError("floats are not allowed in audit records")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise RecordError("duplicate key")
        document[key] = value
    return document


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise RecordError("integer outside ±2^53; write it as a string")
        return value
    if isinstance(value, float):
        raise RecordError("floats are not allowed in audit records")
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise RecordError("object keys must be strings")
        return {unicodedata.normalize("NFC", key): _normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    raise RecordError(f"cannot put a {type(value).__name__} in an audit record")
