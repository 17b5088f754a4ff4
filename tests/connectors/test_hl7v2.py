"""HL7 v2 connector: the shared corpus through both parsers, bad input, ACKs, round-trips."""

from __future__ import annotations

import contextlib
import warnings
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.errors import ConnectorError, MalformedMessage, UnsupportedMessage
from connectors.hl7v2.ack import build_ack
from connectors.hl7v2.parse import parse, read_header, split_batch
from connectors.hl7v2.strict import parse_strict
from connectors.hl7v2.to_envelope import to_envelope
from tests.builders.hl7 import Person, adt, people
from tests.shared_corpus import CORPUS as SHARED_CORPUS

CORPUS = SHARED_CORPUS / "hl7v2"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

# file → (outcome on the fast path and the hl7apy reader, HL7 error code, strict-validation outcome)
EXPECTED = {
    "fhirconv_ADT-A01-02.hl7": ("AA", None, "100"),  # v2.8 LF-separated; extra PID/PV1 fields fail strict
    "fhirconv_ADT-A03-02.hl7": ("AA", None, "100"),
    "fhirconv_ADT-A04-02.hl7": ("AA", None, "100"),
    "fhirconv_ADT-A08-02.hl7": ("AA", None, "100"),
    "fhirconv_ADT04-28.hl7": ("AA", None, "100"),  # UTF-8 BOM, v2.3, ADT^A04 without structure id
    "hl7apy_rsp_k21_v25.hl7": ("AR", "200", "200"),  # RSP^K22 is a query response, not ingested
    "pythonhl7_sample_batch.hl7": ("AA", None, "AA"),  # BHS/BTS batch of one ADT^A04, MSH-18 ASCII
    "rubyhl7_cerner_cerner_en.hl7": ("AA", None, "AA"),  # ORU^R01 2.5.1
    "rubyhl7_nist_ORU_R01_2.5.1_SampleTestCase2.hl7": ("AA", None, "AA"),
    "rubyhl7_realm_realm-minimal-message.hl7": ("AA", None, "100"),  # MSH-2 '^~&' (no escape char)
    "rubyhl7_test.hl7": ("AR", "203", "203"),  # ORU^R03 with no version in MSH-12
}


def _outcome(parser, data: bytes):  # type: ignore[no-untyped-def]
    results = []
    for message in split_batch(data):
        try:
            results.append(
                (
                    "AA",
                    None,
                    to_envelope(
                        parser(message), org_id="ghh", source_is_part2_program=False, received_at=NOW
                    ),
                )
            )
        except UnsupportedMessage as error:
            results.append(("AR", error.code, None))
        except MalformedMessage as error:
            results.append(("AE", error.code, None))
    return results


def test_the_table_covers_every_corpus_file() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gets_the_expected_outcome_from_both_parsers(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    outcome, code, _ = EXPECTED[name]
    fast = _outcome(parse, data)
    reference = _outcome(lambda d: parse_strict(d, validate=False), data)
    assert [(o, c) for o, c, _ in fast] == [(outcome, code)] * len(fast)
    for (_, _, mine), (_, _, theirs) in zip(fast, reference, strict=True):
        if mine is not None:
            assert theirs is not None
            assert mine.model_dump(exclude={"envelope_id"}) == theirs.model_dump(exclude={"envelope_id"})


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_under_strict_validation(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    expected = EXPECTED[name][2]
    for message in split_batch(data):
        if expected == "AA":
            assert parse_strict(message).header.control_id
        else:
            with pytest.raises(ConnectorError) as caught:
                parse_strict(message)
            assert caught.value.code == expected


def test_corpus_adt_lands_with_identifiers_demographics_and_event_time() -> None:
    envelope = to_envelope(
        parse((CORPUS / "fhirconv_ADT04-28.hl7").read_bytes()),
        org_id="rdx",
        source_is_part2_program=False,
        received_at=NOW,
    )
    assert envelope.kind.value == "encounter"
    assert [i.value for i in envelope.subject.identifiers] == [
        "0000000001",
        "e167267c-16c9-4fe3-96ae-9cff5703e90a",
        "a1d4ee8aba494ca",
    ]
    assert envelope.subject.demographics.family == "Bixby"
    assert envelope.subject.demographics.birth_date.isoformat() == "2008-01-06"  # type: ignore[union-attr]
    assert envelope.source.message_id == "1270326314"
    assert envelope.occurred_at is not None
    assert envelope.payload == (CORPUS / "fhirconv_ADT04-28.hl7").read_bytes(), "payload is kept verbatim"


PERSON = Person(mrn="MRN-1", family="Doe", given="Jane", birth_date=datetime(1980, 2, 3).date())


@pytest.mark.parametrize(
    ("data", "error", "code", "location"),
    [
        (adt(PERSON).encode()[:40], MalformedMessage, "101", "MSH-10"),  # truncated inside MSH
        (adt(PERSON).split("\rPID")[0].encode(), MalformedMessage, "100", "PID"),  # truncated before PID
        (adt(PERSON).split("\r", 1)[1].encode(), MalformedMessage, "100", "MSH"),  # MSH missing
        (adt(PERSON).replace("|", "#").encode(), MalformedMessage, "102", "MSH-1"),  # wrong field separator
        (adt(PERSON).replace("MSH|^~\\&|", "MSH|^^^^|", 1).encode(), MalformedMessage, "102", "MSH-2"),
        (adt(PERSON, version="2.9").encode(), UnsupportedMessage, "203", "MSH-12"),  # unknown version
        (adt(PERSON, version="3.0").encode(), UnsupportedMessage, "203", "MSH-12"),
        (adt(PERSON, event="A99").encode(), UnsupportedMessage, "201", "MSH-9"),
        (adt(PERSON).replace("ADT^A01^ADT_A01", "SIU^S12").encode(), UnsupportedMessage, "200", "MSH-9"),
        (adt(PERSON).replace("|P|2.5", "|X|2.5").encode(), UnsupportedMessage, "202", "MSH-11"),
        (
            adt(PERSON).replace("Doe", "Do\xe9").encode("latin-1"),
            MalformedMessage,
            "102",
            "MSH-18",
        ),  # not UTF-8
        (adt(PERSON, charset="KLINGON").encode(), UnsupportedMessage, "103", "MSH-18"),
        (b"\x00\xff\x13binary junk\x00" * 20, MalformedMessage, "100", "MSH"),
        (
            adt(PERSON).replace("MRN-1^^^GHH&2.16.840.1.113883.19.5&ISO^MR", "").encode(),
            MalformedMessage,
            "101",
            "PID-3",
        ),
        (adt(PERSON).replace("\rEVN", "\rev@|EVN").encode(), MalformedMessage, "100", "segment 2"),
    ],
    ids=[
        "truncated-msh",
        "truncated-before-pid",
        "missing-msh",
        "wrong-field-separator",
        "bad-encoding-chars",
        "version-2.9",
        "version-3.0",
        "unknown-event",
        "unknown-type",
        "bad-processing-id",
        "non-utf8",
        "unknown-charset",
        "binary-junk",
        "no-identifiers",
        "malformed-segment-id",
    ],
)
def test_bad_input_is_refused_with_code_and_location_and_no_value(
    data: bytes, error: type[ConnectorError], code: str, location: str
) -> None:
    with pytest.raises(error) as caught:
        parse(data)
    assert caught.value.code == code
    assert caught.value.location == location
    assert "Doe" not in str(caught.value)
    assert "MRN-1" not in str(caught.value)


def test_declared_latin1_is_decoded() -> None:
    person = Person(mrn="7", family="Zoë", given="Ana", birth_date=datetime(1990, 5, 6).date())
    data = adt(person, charset="8859/1").encode("latin-1")
    envelope = to_envelope(parse(data), org_id="ghh", source_is_part2_program=False, received_at=NOW)
    assert envelope.subject.demographics.family == "Zoë"


def test_escape_sequences_are_decoded_and_z_segments_kept_in_the_payload() -> None:
    person = Person(
        mrn="A|B", family="O'Brien & Sons", given="Ann^Marie", birth_date=datetime(1970, 1, 1).date()
    )
    text = adt(person, extra_segments=("ZPI|1|custom~repeated|value",))
    envelope = to_envelope(parse(text.encode()), org_id="ghh", source_is_part2_program=False, received_at=NOW)
    assert envelope.subject.identifiers[0].value == "A|B"
    assert envelope.subject.demographics.family == "O'Brien & Sons"
    assert envelope.subject.demographics.given == "Ann^Marie"
    assert b"ZPI|1|custom~repeated|value" in envelope.payload


def test_part2_program_records_are_part2_whatever_they_say() -> None:
    envelope = to_envelope(
        parse(adt(PERSON).encode()), org_id="clinic", source_is_part2_program=True, received_at=NOW
    )
    assert {c.value for c in envelope.data_classes} >= {"phi", "part2", "mental_health"}
    assert "42CFRPart2" in envelope.security_labels


def test_mental_health_diagnosis_and_psychiatric_service_are_classified() -> None:
    data = adt(PERSON, extra_segments=("DG1|1||F32.1^Major depressive disorder^I10",)).encode()
    envelope = to_envelope(parse(data), org_id="ghh", source_is_part2_program=False, received_at=NOW)
    assert {c.value for c in envelope.data_classes} == {"phi", "mental_health"}
    assert envelope.facts["behavioral_health"] is True


def test_msh4_that_differs_from_the_senders_org_is_a_warning_not_trusted() -> None:
    envelope = to_envelope(
        parse(adt(PERSON, facility="SomeoneElse").encode()),
        org_id="ghh",
        source_is_part2_program=False,
        received_at=NOW,
    )
    assert envelope.source.org_id == "ghh"
    assert envelope.warnings == ("MSH4_ORG_MISMATCH",)


def test_a40_carries_the_merged_identifiers() -> None:
    data = adt(
        PERSON, event="A40", extra_segments=("MRG|OLD-9^^^GHH&2.16.840.1.113883.19.5&ISO^MR",)
    ).encode()
    envelope = to_envelope(parse(data), org_id="ghh", source_is_part2_program=False, received_at=NOW)
    assert [i.value for i in envelope.merge_from] == ["OLD-9"]
    assert envelope.merge_from[0].system == envelope.subject.identifiers[0].system


def test_ack_swaps_sender_and_receiver_and_echoes_the_control_id() -> None:
    header = read_header(adt(PERSON, control_id="CTRL-42").encode())
    ack = build_ack(header, "AA").decode().split("\r")
    msh = ack[0].split("|")
    assert (msh[2], msh[3], msh[4], msh[5]) == ("GATEWAY", "COUNTY", "ADT1", "GHH")
    assert msh[8] == "ACK^A01^ACK"
    assert msh[11] == "2.5"
    assert ack[1] == "MSA|AA|CTRL-42|"


@pytest.mark.parametrize(("version", "err"), [("2.5", "ERR||PID^1^3|101^"), ("2.3", "ERR|PID^1^3^101&")])
def test_error_ack_names_segment_field_and_hl7_code(version: str, err: str) -> None:
    data = adt(PERSON, version=version).replace("MRN-1^^^GHH&2.16.840.1.113883.19.5&ISO^MR", "").encode()
    with pytest.raises(MalformedMessage) as caught:
        parse(data)
    ack = build_ack(read_header(data), "AE", caught.value).decode()
    assert "MSA|AE|MSG0001|" in ack
    assert err in ack


@given(data=st.binary(max_size=600))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_bytes_raise_only_connector_errors(data: bytes) -> None:
    for candidate in (data, b"MSH|^~\\&|" + data, adt(PERSON).encode()[:60] + data):
        try:
            for message in split_batch(candidate):
                parse(message)
        except ConnectorError:
            pass


@given(data=st.binary(max_size=300))
@settings(max_examples=60, deadline=None)
def test_arbitrary_bytes_raise_only_connector_errors_on_the_hl7apy_path(data: bytes) -> None:
    with contextlib.suppress(ConnectorError):
        parse_strict(adt(PERSON).encode()[:80] + data)


@given(
    person=people,
    event=st.sampled_from(["A01", "A04", "A08", "A28"]),
    version=st.sampled_from(["2.3", "2.4", "2.5.1", "2.8"]),
)
@settings(max_examples=150)
def test_generated_adt_round_trips_identifiers_and_demographics(
    person: Person, event: str, version: str
) -> None:
    envelope = to_envelope(
        parse(adt(person, event=event, version=version).encode()),
        org_id="ghh",
        source_is_part2_program=False,
        received_at=NOW,
    )
    assert [(i.system, i.value) for i in envelope.subject.identifiers] == [
        (f"urn:oid:{person.authority_oid}", person.mrn)
    ]
    demographics = envelope.subject.demographics
    assert (demographics.family, demographics.given) == (person.family, person.given)
    assert demographics.birth_date == person.birth_date
    assert demographics.sex == person.sex


@given(
    person=people,
    secret=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=40
    ),
)
def test_blanking_msh8_removes_the_secret_and_changes_nothing_else(person: Person, secret: str) -> None:
    from connectors.hl7v2.security import blank_msh8, security_field

    with_secret = adt(person, secret=secret).encode()
    assert security_field(with_secret) == secret
    blanked = blank_msh8(with_secret)
    assert blanked == adt(person, secret="").encode()
    assert security_field(blanked) == ""
    assert blank_msh8(b"\xef\xbb\xbf" + with_secret.replace(b"\r", b"\n")) == (
        b"\xef\xbb\xbf" + adt(person, secret="").encode().replace(b"\r", b"\n")
    )


_PIECE = st.text(alphabet="AZaz09 .-\\EFRSTX", max_size=6)  # escapes, broken ones included
_SUBCOMPONENTS = st.lists(_PIECE, min_size=1, max_size=3).map("&".join)
_COMPONENTS = st.lists(_SUBCOMPONENTS, min_size=1, max_size=4).map("^".join)
_FIELDS = st.lists(st.lists(_COMPONENTS, min_size=1, max_size=3).map("~".join), min_size=1, max_size=8)


@given(
    name=st.sampled_from(["PID", "PV1", "MSH"]),
    fields=_FIELDS,
    paths=st.lists(
        st.tuples(st.integers(1, 10), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4)),
        min_size=1,
        max_size=20,
    ),
)
@settings(max_examples=300)
def test_field_reader_gives_what_python_hl7s_extract_field_gives(
    name: str, fields: list[str], paths: list[tuple[int, int, int, int]]
) -> None:
    """The fast path reads fields by walking python-hl7's tree; python-hl7's own accessor is the
    oracle (absent or too-deep paths read as "")."""
    import hl7

    from connectors.hl7v2.parse import _PythonHl7Segment

    text = "MSH|^~\\&|" + "|".join(fields) if name == "MSH" else "MSH|^~\\&\r" + "|".join([name, *fields])
    segment = hl7.parse(text).segments(name)[0]
    reader = _PythonHl7Segment(segment)
    with warnings.catch_warnings():  # python-hl7 reports a bad escape through logger.warn
        warnings.simplefilter("ignore", DeprecationWarning)
        for field, component, subcomponent, repetition in paths:
            try:
                expected = str(segment.extract_field(1, field, repetition, component, subcomponent)).strip()
            except (IndexError, KeyError, ValueError):
                expected = ""
            assert reader.value(field, component, subcomponent, repetition) == expected, (
                field,
                component,
                subcomponent,
                repetition,
            )


_FILLER = st.lists(_COMPONENTS.map(lambda c: c.replace("\\", "")), min_size=1, max_size=3).map("~".join)


@given(person=people, filler=st.lists(_FILLER, min_size=60, max_size=60))
@settings(max_examples=60, deadline=None)
def test_fields_the_envelope_does_not_read_change_nothing_on_either_path(
    person: Person, filler: list[str]
) -> None:
    """The fast path blanks every field outside READ_FIELDS before python-hl7 parses; whatever
    a sender puts there (a real PID has 30 fields, a PV1 50) leaves the envelope as it was."""
    plain = adt(person).split("\r")
    pid = plain[2].split("|")
    padded_pid = [pid[0], filler[0], filler[1], pid[3], filler[2], pid[5], filler[3], pid[7], pid[8]]
    padded_pid += filler[4:26]  # PID-9 to PID-30
    pv1 = ["PV1", filler[26], "E", *filler[27:34], "PSY", *filler[34:58]]  # PV1-2, PV1-10 read
    noisy = "\r".join([plain[0], plain[1] + "|" + filler[58], "|".join(padded_pid), "|".join(pv1)])

    def envelope(parser, text: str):  # type: ignore[no-untyped-def]
        found = to_envelope(
            parser(text.encode()), org_id="ghh", source_is_part2_program=False, received_at=NOW
        )
        return found.model_dump(exclude={"envelope_id", "payload", "payload_sha256"})

    expected = envelope(parse, "\r".join(plain))
    assert envelope(parse, noisy) == expected
    assert envelope(lambda d: parse_strict(d, validate=False), noisy) == expected


def test_the_fast_path_reader_refuses_a_field_it_blanked() -> None:
    reader = parse(adt(PERSON).encode()).reader
    assert reader.segments("PID")[0].value(5, 1) == PERSON.family
    with pytest.raises(LookupError, match="PID-11 is not in READ_FIELDS"):
        reader.segments("PID")[0].value(11)
    with pytest.raises(LookupError, match="PV1-3 is not in READ_FIELDS"):
        reader.segments("PV1")[0].repetitions(3)
