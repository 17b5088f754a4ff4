"""FHIR connector: the shared corpus, bad input with precise issues, subject resolution, fuzzing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.errors import ConnectorError, IssuesFound, TooLarge, UnsupportedMessage
from connectors.fhir.parse import check_single, load_json, parse_bundle
from connectors.fhir.to_envelope import Context, FhirRecord, bundle_to_records, resource_to_record
from tests.shared_corpus import CORPUS as SHARED_CORPUS

CORPUS = SHARED_CORPUS / "fhir"
CONTEXT = Context(org_id="ghh", source_is_part2_program=False, received_at=datetime(2026, 11, 23, tzinfo=UTC))
MAX = 10 * 1024 * 1024

# file → accepted kind, or (error code, location) of the first issue
EXPECTED: dict[str, Any] = {
    "msfhirserver_Bundle-Batch.json": ("duplicate", "Bundle.entry[4].fullUrl"),  # fullUrl Patient/123 twice
    "msfhirserver_PatientWithMinimalData.json": "patient",  # UTF-8 BOM
    "spec_bundle-references.json": ("not-supported", "Bundle.type"),  # a collection, not a transaction
    "spec_condition-example-f001-heart.json": "condition",
    "spec_consent-example-notOrg.json": "consent",
    "spec_consent-example-smartonfhir.json": "consent",
    "spec_encounter-example-f001-heart.json": "encounter",
    "spec_observation-example-f002-excess.json": "observation",
    "spec_patient-example-f001-pieter.json": "patient",
}


def test_the_table_covers_every_corpus_file() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gets_the_expected_outcome(name: str) -> None:
    document = load_json((CORPUS / name).read_bytes(), max_bytes=MAX)
    expected = EXPECTED[name]
    if isinstance(expected, tuple):
        with pytest.raises(ConnectorError) as caught:
            parse_bundle(document)
        issues = getattr(caught.value, "issues", None)
        first = issues[0] if issues else caught.value
        assert (first.code, first.location) == expected
        return
    check_single(document, None)
    record = resource_to_record(document, CONTEXT, document["resourceType"])
    assert isinstance(record, FhirRecord)
    assert record.envelope.kind.value == expected
    assert json.loads(record.envelope.payload) == document


def test_resources_that_reference_patient_f001_carry_the_senders_logical_id() -> None:
    document = load_json((CORPUS / "spec_encounter-example-f001-heart.json").read_bytes(), max_bytes=MAX)
    record = resource_to_record(document, CONTEXT, "Encounter")
    assert isinstance(record, FhirRecord)
    assert record.envelope.subject.source_logical_id == "f001"
    assert record.envelope.subject.identifiers == ()


def _bundle(*entries: dict[str, Any], bundle_type: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": bundle_type, "entry": list(entries)}


PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-7"}],
    "name": [{"family": "Doe", "given": ["Jane"]}],
    "birthDate": "1980-02-03",
    "gender": "female",
}


def test_transaction_resolves_subjects_within_the_bundle() -> None:
    bundle = parse_bundle(
        _bundle(
            {
                "fullUrl": "urn:uuid:0b2c7c1e-0000-4000-8000-000000000001",
                "resource": PATIENT,
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Encounter",
                    "status": "in-progress",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
                    "serviceType": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/service-type", "code": "67"}
                        ]
                    },
                    "subject": {"reference": "urn:uuid:0b2c7c1e-0000-4000-8000-000000000001"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
        )
    )
    records = bundle_to_records(bundle, CONTEXT)
    encounter = records[1]
    assert isinstance(encounter, FhirRecord)
    assert [i.value for i in encounter.envelope.subject.identifiers] == ["MRN-7"]
    assert encounter.envelope.facts["crisis"] is True
    assert {c.value for c in encounter.envelope.data_classes} == {"phi", "mental_health"}


@pytest.mark.parametrize(
    ("document", "code", "location"),
    [
        (
            _bundle(
                {
                    "resource": {**PATIENT, "birthDate": "1980-13-45"},
                    "request": {"method": "POST", "url": "Patient"},
                }
            ),
            "value",
            "Bundle.entry[0].resource.birthDate",
        ),
        (
            _bundle(
                {"resource": {"resourceType": "Spaceship"}, "request": {"method": "POST", "url": "Spaceship"}}
            ),
            "not-supported",
            "Bundle.entry[0].resource.resourceType",
        ),
        (
            _bundle(
                {
                    "resource": {
                        "resourceType": "Encounter",
                        "status": "planned",
                        "class": {"code": "AMB"},
                        "subject": {"reference": "urn:uuid:9d9e7a5a-0000-4000-8000-00000000dead"},
                    },
                    "request": {"method": "POST", "url": "Encounter"},
                }
            ),
            "invalid",
            "Bundle.entry[0].resource.subject.reference",
        ),
        (
            _bundle({"request": {"method": "DELETE", "url": "Patient/1"}}),
            "not-supported",
            "Bundle.entry[0].request.method",
        ),
        (
            _bundle({"resource": PATIENT, "request": {"method": "POST", "url": "Encounter"}}),
            "invalid",
            "Bundle.entry[0].request.url",
        ),
        (
            _bundle(
                {"resource": {**PATIENT, "nickname": "x"}, "request": {"method": "POST", "url": "Patient"}}
            ),
            "structure",
            "Bundle.entry[0].resource.nickname",
        ),
    ],
    ids=["bad-date", "unknown-type", "dangling-urn-uuid", "delete", "url-type-mismatch", "unknown-element"],
)
def test_bad_entries_get_a_precise_issue_and_no_value(
    document: dict[str, Any], code: str, location: str
) -> None:
    try:
        bundle = parse_bundle(document)
        issues = [i for found in bundle.issues_by_entry.values() for i in found]
    except IssuesFound as found:
        issues = found.issues
    assert (issues[0].code, issues[0].location) == (code, location)
    assert all("Doe" not in i.reason and "1980" not in i.reason for i in issues)


def test_resource_with_no_subject_is_refused() -> None:
    issues = resource_to_record(
        {"resourceType": "Flag", "status": "active", "code": {"text": "x"}}, CONTEXT, "Flag"
    )
    assert isinstance(issues, list)
    assert (issues[0].code, issues[0].location) == ("required", "Flag.subject")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"no": "type"}', b"\xff\xfe\x00"])
def test_bodies_that_are_not_resources_are_refused(body: bytes) -> None:
    with pytest.raises(ConnectorError) as caught:
        load_json(body, max_bytes=MAX)
    assert caught.value.code == "structure"


def test_oversize_body_is_refused_before_parsing() -> None:
    with pytest.raises(TooLarge):
        load_json(b"{" + b" " * 2000 + b"}", max_bytes=1024)


def test_posted_type_must_match_the_url() -> None:
    with pytest.raises(UnsupportedMessage):
        check_single(PATIENT, "Encounter")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=8,
)


@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_connector_errors(body: bytes) -> None:
    try:
        document = load_json(body, max_bytes=MAX)
        check_single(document, None)
    except ConnectorError:
        pass


@given(
    resource_type=st.sampled_from(["Patient", "Encounter", "Bundle", "Flag", "Consent"]),
    fields=st.dictionaries(
        st.sampled_from(
            ["id", "status", "subject", "entry", "type", "birthDate", "name", "identifier", "patient", "meta"]
        ),
        json_values,
        max_size=6,
    ),
)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_json_resources_raise_only_connector_errors(
    resource_type: str, fields: dict[str, Any]
) -> None:
    document = {"resourceType": resource_type, **fields}
    try:
        if resource_type == "Bundle":
            bundle_to_records(parse_bundle(document), CONTEXT)
        else:
            check_single(document, None)
            resource_to_record(document, CONTEXT, resource_type)
    except ConnectorError:
        pass
