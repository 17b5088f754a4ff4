"""Logs carry no personal data: fields off the allow-list are dropped, exceptions by type only."""

from __future__ import annotations

import io
import json

import pytest

from gateway.log_config import configure_logging, get_logger


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    return stream


def _events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_log_call_with_a_name_or_birth_date_emits_neither(captured: io.StringIO) -> None:
    get_logger("test").info(
        "person_matched",
        family="Canaryname",
        given="Tweety",
        birth_date="1980-02-03",
        org_id="pd-springfield",
    )
    text = captured.getvalue()
    assert "Canaryname" not in text
    assert "Tweety" not in text
    assert "1980-02-03" not in text
    (event,) = _events(captured)
    assert event["event"] == "person_matched"
    assert event["org_id"] == "pd-springfield"
    assert event["dropped_fields"] == ["birth_date", "family", "given"]


def test_exceptions_are_logged_by_type_without_message_or_traceback(captured: io.StringIO) -> None:
    try:
        raise ValueError("input_value='Canaryname Smith'")
    except ValueError:
        get_logger("test").exception("parse_failed")
    text = captured.getvalue()
    assert "Canaryname" not in text
    assert "Traceback" not in text
    (event,) = _events(captured)
    assert event["error_type"] == "ValueError"


def test_standard_library_loggers_pass_through_the_same_filter(captured: io.StringIO) -> None:
    import logging

    logging.getLogger("uvicorn.error").warning("connected", extra={"patient_name": "Canaryname"})
    text = captured.getvalue()
    assert "Canaryname" not in text
    assert _events(captured)[0]["event"] == "connected"


def test_other_libraries_log_their_template_never_the_data_formatted_into_it(
    captured: io.StringIO,
) -> None:
    import logging

    library = logging.getLogger("some.library")
    library.warning("bad value [%s] in field [%s]", "Canaryname", "PID-5")
    library.warning("parsing Canaryname failed")  # formatted before it reached the logger
    library.warning("connected")
    events = _events(captured)
    assert "Canaryname" not in captured.getvalue()
    assert [e["event"] for e in events] == [
        "bad value [%s] in field [%s]",
        "library_message_withheld",
        "library_message_withheld",
    ]
    assert {e["logger"] for e in events} == {"some.library"}


def test_a_bad_escape_in_a_name_does_not_reach_the_log_through_python_hl7(
    captured: io.StringIO,
) -> None:
    """python-hl7 logs the whole field when it meets an escape sequence it does not know."""
    import warnings

    from connectors.hl7v2.parse import parse

    message = (
        b"MSH|^~\\&|ADT1|GHH|GW|CTY|20261101120000||ADT^A01|M1|P|2.5\r"
        b"PID|1||MRN-1^^^GHH^MR||Canary\\Q\\name^Tweety||19800203|F"
    )
    with warnings.catch_warnings():  # python-hl7 reports through the deprecated logger.warn
        warnings.simplefilter("ignore", DeprecationWarning)
        family = parse(message).reader.segments("PID")[0].value(5)
    assert family == "Canaryname"  # the unknown escape dropped, as python-hl7 does
    text = captured.getvalue()
    assert _events(captured), "python-hl7 logged nothing: the test no longer shows the guard"
    assert "Canary" not in text
    assert "Tweety" not in text


def test_objects_are_not_rendered_even_under_an_allowed_name(captured: io.StringIO) -> None:
    class Patient:
        def __repr__(self) -> str:
            return "Patient(name='Canaryname')"

    get_logger("test").info("odd", reason=Patient())
    assert "Canaryname" not in captured.getvalue()
    assert _events(captured)[0]["reason"] == "Patient"
