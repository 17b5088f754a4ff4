"""HL7 v2 ER7 bytes → a checked message whose fields can be read (versions 2.3 - 2.8).

Two stages, so that even a message that fails later checks can be acknowledged from its MSH:
`read_header` finds separators, character set, type, control id and version; `parse` checks
the rest and hands the segments the gateway reads to python-hl7 (the fast path) or, in strict
mode, to hl7apy (`connectors.hl7v2.strict`). Both give a `MessageReader`.

Invariants:
- Errors carry an HL7 table 0357 code and a location (`PID-3`), never a field value.
- The bytes given are what is stored: decoding, BOM stripping and segment-terminator
  normalisation happen on a copy.
- Segment terminators: CR (standard); LF and CRLF are accepted, as interface engines do.
- Only the standard field separator `|` is accepted. MSH-2 may omit the escape character
  (`^~&`, seen in the wild); escape sequences are then not decoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import hl7
import hl7.util

from connectors.errors import MalformedMessage, UnsupportedMessage

# HL7 table 0357 (message error condition codes)
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION_ID = "203"
APPLICATION_INTERNAL_ERROR = "207"

SUPPORTED_VERSIONS = frozenset(
    {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}
)
SUPPORTED_EVENTS: dict[str, frozenset[str]] = {
    "ADT": frozenset({"A01", "A03", "A04", "A08", "A28", "A31", "A40"}),
    "ORU": frozenset({"R01"}),
    "MDM": frozenset({"T02"}),
}
PROCESSING_IDS = frozenset({"P", "T", "D"})
# The fields the envelope is built from, per segment; everything stays in the stored payload.
# The fast path hands python-hl7 only these (the others blanked, the tail cut), since its cost
# grows with every field and component it builds: an ADT^A01 of the bench parses in 78 µs
# rather than 115, and a real one, with 30 PID and 50 PV1 fields, gains far more. Its reader
# refuses any other field, so a new read must be added here. MSH-9 onward is the Header's.
READ_FIELDS: dict[str, frozenset[int]] = {
    "MSH": frozenset({3, 4, 7}),
    "EVN": frozenset({2, 6}),
    "PID": frozenset({3, 5, 7, 8}),
    "PV1": frozenset({2, 10, 44, 45}),
    "MRG": frozenset({1}),
    "DG1": frozenset({3}),
    "TXA": frozenset({2, 4}),
    "ARV": frozenset({3}),
    "OBR": frozenset({7}),
}
READ_SEGMENTS = frozenset(READ_FIELDS)
CHARSETS = {
    "": "utf-8",  # HL7 says ASCII; UTF-8 is its superset and what senders use in practice
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
}
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_BOM = b"\xef\xbb\xbf"


class FieldReader(Protocol):
    """Read fields of one segment, 1-based as HL7 numbers them; values come unescaped."""

    def value(self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 1) -> str: ...

    def repetitions(self, field: int) -> int: ...


class MessageReader(Protocol):
    """The READ_FIELDS of a message's READ_SEGMENTS."""

    def segments(self, name: str) -> list[FieldReader]: ...


@dataclass(frozen=True)
class Header:
    """What the MSH says, read before anything else is checked (enough to build an ACK)."""

    field_separator: str
    encoding_characters: str
    msh_fields: tuple[str, ...]  # raw (escaped) MSH fields; msh_fields[i] is MSH-(i+1)
    charset: str  # Python codec name
    message_type: str
    trigger_event: str
    control_id: str
    processing_id: str
    version: str

    def msh(self, number: int) -> str:
        return self.msh_fields[number - 1] if number <= len(self.msh_fields) else ""

    @property
    def component_separator(self) -> str:
        return self.encoding_characters[0]


@dataclass(frozen=True)
class Hl7Message:
    header: Header
    raw: bytes  # exactly as received
    text: str  # decoded, CR-terminated segments
    segment_ids: tuple[str, ...]
    reader: MessageReader


def normalise(data: bytes) -> bytes:
    """Strip a UTF-8 BOM and surrounding blank lines; make CR the only segment terminator."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    data = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    return data.strip(b"\r \t")


def split_batch(data: bytes) -> list[bytes]:
    """Split an FHS/BHS batch into its messages; a single message comes back alone.

    Raises:
        MalformedMessage: a batch holding no message.
    """
    body = normalise(data)
    if not body.startswith((b"FHS", b"BHS")):
        return [data]
    messages: list[list[bytes]] = []
    for segment in body.split(b"\r"):
        name = segment[:3]
        if name in (b"FHS", b"BHS", b"BTS", b"FTS"):
            continue
        if name == b"MSH":
            messages.append([segment])
        elif messages:
            messages[-1].append(segment)
        elif segment.strip():
            raise MalformedMessage(
                "segment before the first MSH in a batch", location="BHS", code=SEGMENT_SEQUENCE_ERROR
            )
    if not messages:
        raise MalformedMessage("batch holds no message", location="BHS", code=SEGMENT_SEQUENCE_ERROR)
    return [b"\r".join(segments) for segments in messages]


def read_header(data: bytes) -> Header:
    """Read the MSH segment.

    Raises:
        MalformedMessage: no MSH, a non-standard separator, malformed encoding characters,
            bytes that are not in the declared character set, or no control id.
        UnsupportedMessage: unknown character set.
    """
    body = normalise(data)
    if not body.startswith(b"MSH"):
        raise MalformedMessage(
            "message does not start with an MSH segment", location="MSH", code=SEGMENT_SEQUENCE_ERROR
        )
    if body[3:4] != b"|":
        raise MalformedMessage("field separator must be '|'", location="MSH-1", code=DATA_TYPE_ERROR)
    msh_bytes = body.split(b"\r", 1)[0]
    raw_fields = msh_bytes.split(b"|")
    encoding = raw_fields[1] if len(raw_fields) > 1 else b""
    try:
        encoding_text = encoding.decode("ascii")
    except UnicodeDecodeError:
        encoding_text = ""
    if not _valid_encoding_characters(encoding_text):
        raise MalformedMessage(
            "encoding characters must be 3 or 4 distinct symbols", location="MSH-2", code=DATA_TYPE_ERROR
        )
    # raw_fields[0] is "MSH" and MSH-1 is the separator itself, so raw_fields[k] is MSH-(k+1).
    charset_field = raw_fields[17].split(encoding[:1] or b"^")[0].strip() if len(raw_fields) > 17 else b""
    declared = charset_field.decode("ascii", "replace").upper()
    if declared not in CHARSETS:
        raise UnsupportedMessage(
            "character set is not supported", location="MSH-18", code=TABLE_VALUE_NOT_FOUND
        )
    charset = CHARSETS[declared]
    try:
        msh_text = msh_bytes.decode(charset)
    except UnicodeDecodeError:
        raise MalformedMessage(
            f"MSH is not valid {charset}; declare the character set in MSH-18",
            location="MSH-18",
            code=DATA_TYPE_ERROR,
        ) from None
    fields = ("|", *msh_text.split("|")[1:])
    component = encoding_text[0]
    header = Header(
        field_separator="|",
        encoding_characters=encoding_text,
        msh_fields=fields,
        charset=charset,
        message_type=_component(fields, 9, 1, component),
        trigger_event=_component(fields, 9, 2, component),
        control_id=fields[9].strip() if len(fields) > 9 else "",
        processing_id=_component(fields, 11, 1, component),
        version=_component(fields, 12, 1, component),
    )
    return header


def check_header(header: Header) -> None:
    """Check what the MSH asks for is something this gateway accepts.

    Raises:
        MalformedMessage: no control id.
        UnsupportedMessage: version, message type, trigger event or processing id not accepted.
    """
    if not header.control_id:
        raise MalformedMessage(
            "message control id is required", location="MSH-10", code=REQUIRED_FIELD_MISSING
        )
    if header.version not in SUPPORTED_VERSIONS:
        raise UnsupportedMessage(
            "version is not supported (2.3 to 2.8)", location="MSH-12", code=UNSUPPORTED_VERSION_ID
        )
    if header.processing_id not in PROCESSING_IDS:
        raise UnsupportedMessage(
            "processing id is not supported", location="MSH-11", code=UNSUPPORTED_PROCESSING_ID
        )
    events = SUPPORTED_EVENTS.get(header.message_type)
    if events is None:
        raise UnsupportedMessage(
            "message type is not supported", location="MSH-9", code=UNSUPPORTED_MESSAGE_TYPE
        )
    if header.trigger_event not in events:
        raise UnsupportedMessage(
            "trigger event is not supported", location="MSH-9", code=UNSUPPORTED_EVENT_CODE
        )


def decode_body(header: Header, data: bytes) -> tuple[str, list[str]]:
    """Decode the whole message and split it into segments, checking every segment id.

    Raises:
        MalformedMessage: undecodable bytes or a malformed segment id.
    """
    try:
        text = normalise(data).decode(header.charset)
    except UnicodeDecodeError as exc:
        segment_number = normalise(data)[: exc.start].count(b"\r") + 1
        raise MalformedMessage(
            f"bytes are not valid {header.charset} (segment {segment_number}); "
            "declare the character set in MSH-18",
            location="MSH-18",
            code=DATA_TYPE_ERROR,
        ) from None
    segments = [segment for segment in text.split("\r") if segment]
    for number, segment in enumerate(segments, start=1):
        if not _SEGMENT_ID.match(segment[:3]) or (len(segment) > 3 and segment[3] != "|"):
            raise MalformedMessage(
                f"segment {number} has a malformed segment id",
                location=f"segment {number}",
                code=SEGMENT_SEQUENCE_ERROR,
            )
    return text, segments


def require_segments(header: Header, segment_ids: Iterable[str]) -> None:
    """Raises: MalformedMessage naming a segment the message type requires."""
    present = set(segment_ids)
    required = {"PID"}
    if header.message_type == "ADT" and header.trigger_event == "A40":
        required.add("MRG")
    if header.message_type == "MDM":
        required.add("TXA")
    for name in sorted(required - present):
        raise MalformedMessage(f"{name} segment is required", location=name, code=SEGMENT_SEQUENCE_ERROR)


def parse(data: bytes, header: Header | None = None) -> Hl7Message:
    """Parse one message on the fast path (python-hl7); `header` if `read_header` was already run.

    Raises:
        MalformedMessage, UnsupportedMessage: with an HL7 error code and location.
    """
    header = header or read_header(data)
    check_header(header)
    text, segments = decode_body(header, data)
    segment_ids = tuple(segment[:3] for segment in segments)
    require_segments(header, segment_ids)
    wanted = "\r".join(_read_fields_only(segment) for segment in segments if segment[:3] in READ_SEGMENTS)
    encoding = header.encoding_characters
    if len(encoding) == 3:  # no escape character declared: give python-hl7 one that cannot occur
        wanted = wanted.replace(f"MSH|{encoding}|", f"MSH|{encoding[:2]}\x01{encoding[2]}|", 1)
    try:
        parsed = hl7.parse(wanted)
    except (hl7.ParseException, ValueError, IndexError, KeyError):
        raise MalformedMessage(
            "message structure cannot be parsed", location="MSH", code=SEGMENT_SEQUENCE_ERROR
        ) from None
    reader = _PythonHl7Reader(parsed)
    _check_identifiers(reader)
    return Hl7Message(header=header, raw=data, text=text, segment_ids=segment_ids, reader=reader)


def _read_fields_only(segment: str) -> str:
    """The segment with only its READ_FIELDS (and MSH-2, the encoding characters) kept."""
    name = segment[:3]
    wanted = READ_FIELDS[name]
    fields = segment.split("|")
    offset = 1 if name == "MSH" else 0  # MSH-1 is the separator itself: fields[k] is MSH-(k+1)
    kept = [name]
    for index in range(1, min(len(fields), max(wanted) - offset + 1)):
        number = index + offset
        kept.append(fields[index] if number in wanted or (offset and number == 2) else "")
    return "|".join(kept)


def _check_identifiers(reader: MessageReader) -> None:
    pid = reader.segments("PID")[0]
    if not any(pid.value(3, 1, 1, rep) for rep in range(1, pid.repetitions(3) + 1)):
        raise MalformedMessage(
            "patient identifier list is required", location="PID-3", code=REQUIRED_FIELD_MISSING
        )


def _valid_encoding_characters(text: str) -> bool:
    return (
        len(text) in (3, 4)
        and len(set(text)) == len(text)
        and "|" not in text
        and all(not ch.isalnum() and ch.isprintable() and not ch.isspace() for ch in text)
    )


def _component(fields: tuple[str, ...], number: int, component: int, separator: str) -> str:
    if number > len(fields):
        return ""
    parts = fields[number - 1].split(separator)
    return parts[component - 1].strip() if component <= len(parts) else ""


class _PythonHl7Segment:
    def __init__(self, segment: hl7.Segment, readable: frozenset[int] | None = None) -> None:
        self._segment = segment
        self._name = str(segment[0])
        self._msh = self._name == "MSH"
        self._readable = readable  # None: every field

    def _check_readable(self, field: int) -> None:
        if self._readable is not None and field not in self._readable and not (self._msh and field <= 2):
            raise LookupError(f"{self._name}-{field} is not in READ_FIELDS: the fast path blanked it")

    def value(self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 1) -> str:
        """What `Segment.extract_field` gives (its rules for shallow trees), absent parts as "".

        Walked here rather than through extract_field, which builds an Accessor for its error
        messages on every call: a third of the cost of reading an envelope's fields.
        tests/connectors/test_hl7v2.py checks the two agree on generated segments.
        """
        self._check_readable(field)
        segment = self._segment
        if field >= len(segment):
            return ""
        node: object = segment[field]
        if repetition > len(node):  # type: ignore[arg-type]
            return ""
        node = node[repetition - 1]  # type: ignore[index]
        if isinstance(node, hl7.Repetition):
            if component > len(node):
                return ""
            node = node[component - 1]
            if isinstance(node, hl7.Component):
                if subcomponent > len(node):
                    return ""
                node = node[subcomponent - 1]
            elif subcomponent != 1:
                return ""
        elif component != 1 or subcomponent != 1:
            return ""
        if not (self._msh and field <= 2):  # MSH-1 and MSH-2 are the separators themselves
            node = hl7.util.unescape(segment, node)
        return str(node).strip()

    def repetitions(self, field: int) -> int:
        self._check_readable(field)
        if field >= len(self._segment):  # python-hl7 numbers MSH as HL7 does (MSH[1] is "|")
            return 0
        content = self._segment[field]
        if isinstance(content, hl7.Field) and content and isinstance(content[0], hl7.Repetition):
            return len(content)
        return 1 if str(content) else 0


class _PythonHl7Reader:
    """Segments indexed by name once: python-hl7's `Message.segments` rescans on every call."""

    def __init__(self, message: hl7.Message) -> None:
        self._by_name: dict[str, list[FieldReader]] = {}
        for segment in message:
            name = str(segment[0])
            self._by_name.setdefault(name, []).append(_PythonHl7Segment(segment, READ_FIELDS[name]))

    def segments(self, name: str) -> list[FieldReader]:
        return list(self._by_name.get(name, ()))
