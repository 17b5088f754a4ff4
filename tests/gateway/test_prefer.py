"""Parsing `Prefer: return=…` (RFC 7240) and shaping a create's answer from it."""

from __future__ import annotations

import json

import pytest

from gateway.api.prefer import ReturnPreference, return_preference, written


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("return=minimal", ReturnPreference.MINIMAL),
        ("return=representation", ReturnPreference.REPRESENTATION),
        ("return=OperationOutcome", ReturnPreference.OPERATION_OUTCOME),
        ("RETURN=Minimal", ReturnPreference.MINIMAL),
        ('return="minimal"', ReturnPreference.MINIMAL),
        ("respond-async, return=minimal", ReturnPreference.MINIMAL),
        ("return = operationoutcome ; foo=bar", ReturnPreference.OPERATION_OUTCOME),
        ("handling=strict; return=minimal", None),  # a parameter of handling, not a preference
        ("return=everything", None),
        ("return", None),
        ("returns=minimal", None),
        ("respond-async", None),
    ],
)
def test_return_preference(header: str | None, expected: ReturnPreference | None) -> None:
    assert return_preference(header) is expected


_RESOURCE = {"resourceType": "Patient", "id": "p-1", "meta": {"lastUpdated": "2026-11-24T10:15:30.5+01:00"}}


def _answer(preference: ReturnPreference | None) -> tuple[int, dict[str, str], bytes]:
    response = written(
        _RESOURCE,
        status=201,
        location="http://gw/fhir/r4/Patient/p-1/_history/1",
        version="1",
        preference=preference,
        outcome_text="created: Patient/p-1/_history/1",
    )
    return response.status_code, dict(response.headers), bytes(response.body)


def test_every_answer_carries_location_etag_and_last_modified_in_gmt() -> None:
    for preference in [None, *ReturnPreference]:
        status, headers, _ = _answer(preference)
        assert status == 201
        assert headers["location"] == "http://gw/fhir/r4/Patient/p-1/_history/1"
        assert headers["etag"] == 'W/"1"'
        assert headers["last-modified"] == "Tue, 24 Nov 2026 09:15:30 GMT"


def test_the_body_is_what_was_preferred_and_named_as_applied() -> None:
    _, headers, body = _answer(None)
    assert json.loads(body) == _RESOURCE
    assert "preference-applied" not in headers

    _, headers, body = _answer(ReturnPreference.MINIMAL)
    assert body == b""
    assert headers["preference-applied"] == "return=minimal"
    assert "content-type" not in headers

    _, headers, body = _answer(ReturnPreference.OPERATION_OUTCOME)
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"] == [
        {"severity": "information", "code": "informational", "diagnostics": "created: Patient/p-1/_history/1"}
    ]
    assert headers["content-type"].startswith("application/fhir+json")
    assert headers["preference-applied"] == "return=OperationOutcome"

    _, headers, body = _answer(ReturnPreference.REPRESENTATION)
    assert json.loads(body) == _RESOURCE
    assert headers["preference-applied"] == "return=representation"


@pytest.mark.parametrize("last_updated", [None, "yesterday", "2026-11-24T10:15:30"])
def test_no_last_modified_without_a_zoned_last_updated(last_updated: str | None) -> None:
    resource = {"resourceType": "Patient", "meta": {"lastUpdated": last_updated}}
    response = written(
        resource, status=201, location="x", version="1", preference=None, outcome_text="created"
    )
    assert "last-modified" not in response.headers
