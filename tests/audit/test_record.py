"""Audit records as canonical leaves: JCS bytes, NFC, no floats, strict parsing (T20)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import orjson
import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from audit.errors import RecordError
from audit.record import MAX_LEAF_BYTES, AuditRecord, Kind, _normalise, canonical, parse_leaf

ORIGIN = "audit.example.org/test/2026"


def _record(**changes: object) -> AuditRecord:
    fields: dict[str, object] = {
        "kind": Kind.DECISION,
        "action": "lookup_record",
        "decision": "permit",
        "outcome": "disclosed",
        "recorded": datetime(2026, 11, 23, 12, 0, 0, 5, tzinfo=UTC),
        "requester": {"org": "crisis-clinic", "client": "crisis-clinic-app", "user": "clin-7"},
        "purpose": "TREAT",
        "person_id": "7f6c0e1e-0000-4000-8000-000000000001",
        "reasons": ["TPO-TREATMENT", "CONSENT-PERMIT"],
        "policy_version": "sha256:abc",
        "data_classes": ["phi", "mental_health"],
        "obligations": ["RECORD_ACCOUNTING"],
        "request_id": "req-1",
    }
    fields.update(changes)
    return AuditRecord(**fields)  # type: ignore[arg-type]


def test_a_leaf_is_sorted_compact_json_naming_its_log_with_a_nonce() -> None:
    leaf = _record().leaf(ORIGIN)
    document = parse_leaf(leaf)
    assert list(document) == sorted(document)
    assert leaf.startswith(b'{"action":"lookup_record","data_classes":["mental_health","phi"],')
    assert b"\n" not in leaf
    assert document["log"] == ORIGIN
    assert document["recorded"] == "2026-11-23T12:00:00.000005Z"
    assert document["reasons"] == ["CONSENT-PERMIT", "TPO-TREATMENT"]
    assert _record().leaf(ORIGIN) != leaf  # a fresh nonce each time: leaf hashes are not guessable


def test_identical_looking_strings_give_one_leaf() -> None:
    composed = _record(requester={"org": "caf\u00e9"}).to_document(ORIGIN, nonce="n")
    decomposed = _record(requester={"org": "cafe\u0301"}).to_document(ORIGIN, nonce="n")
    assert canonical(composed) == canonical(decomposed)


@pytest.mark.parametrize(
    "value",
    [1.0, 2**53, float("nan"), {1: "a"}, object()],
    ids=["float", "bigint", "nan", "intkey", "object"],
)
def test_values_that_have_no_single_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(RecordError):
        canonical({"x": value})


def test_too_large_a_record_is_refused() -> None:
    with pytest.raises(RecordError, match="at most"):
        canonical({"x": "a" * MAX_LEAF_BYTES})


@pytest.mark.parametrize(
    "leaf",
    [
        b'{"a":1,"a":2}',  # duplicate key
        b'{"b":1,"a":2}',  # key order
        b'{"a": 1}',  # whitespace
        b'{"a":1.0}',  # float
        b'{"a":1.5}',  # a float orjson writes back unchanged
        b'{"a":[0,2.5],"b":"x"}',  # ... in an array
        b'{"a":{"b":5e-324}}',  # ... in an exponent form
        b'{"a":1e+20}',  # JCS writes 100000000000000000000
        b'{"a":9007199254740993}',  # beyond 2^53
        b'{"a":NaN}',  # not JSON
        b'{"\xef\xbf\xbd":2,"\xf0\x9f\x98\x80":1}',  # code-point key order, not UTF-16
        b'{"a":"\\u00e9"}',  # escape where JCS writes the character
        b'{"a":"\\ud800"}',  # lone surrogate
        b'{"a":"cafe\xcc\x81"}',  # not NFC
        b"[1]",  # not an object
        b"\xff",  # not UTF-8
    ],
)
def test_leaves_that_are_not_exactly_canonical_are_refused(leaf: bytes) -> None:
    with pytest.raises(RecordError):
        parse_leaf(leaf)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6))
def test_any_document_canonicalises_to_a_leaf_that_parses_back(document: dict[str, object]) -> None:
    try:
        leaf = canonical(document)
    except RecordError:
        return  # e.g. lone surrogates hypothesis can generate
    assert canonical(parse_leaf(leaf)) == leaf
    assert json.loads(leaf) == json.loads(canonical(json.loads(leaf)))


@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6))
def test_leaves_are_exactly_what_the_rfc8785_encoder_writes(document: dict[str, object]) -> None:
    """canonical() writes with orjson where that gives the same bytes; hypothesis's text covers
    control characters, escapes, combining marks and keys outside the BMP (sorted by UTF-16)."""
    try:
        expected = rfc8785.dumps(_normalise(document))
    except rfc8785.CanonicalizationError:
        with pytest.raises(RecordError):
            canonical(document)
        return
    assert canonical(document) == expected


def test_keys_outside_the_bmp_sort_by_utf16_code_units() -> None:
    # U+1F600 is D83D DE00 in UTF-16, before U+FF61; by code point it would come after.
    assert canonical({"\uff61": 1, "\U0001f600": 2}) == '{"😀":2,"｡":1}'.encode()


NUMBERS_AND_MORE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), NUMBERS_AND_MORE, max_size=6))
def test_the_fast_check_accepts_only_what_the_full_jcs_check_accepts(document: dict[str, object]) -> None:
    """Sorted compact JSON as orjson writes it, floats and big integers included: a leaf
    parse_leaf accepts is exactly the JCS bytes of what it returns."""
    try:
        leaf = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return  # lone surrogates
    try:
        parsed = parse_leaf(leaf)
    except RecordError:
        return
    assert canonical(parsed) == leaf
    assert parsed == json.loads(leaf)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_a_leaf_or_a_record_error(data: bytes) -> None:
    try:
        document = parse_leaf(data)
    except RecordError:
        return
    assert canonical(document) == data
