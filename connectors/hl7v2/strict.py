"""The hl7apy path: strict structural validation (`CGW_HL7_STRICT=1`) and a second reader.

hl7apy costs about 12 ms per ADT message here (python-hl7: about 0.4-1 ms), so it is off the
hot path; it earns its cost as a validator against the HL7 message structures, and as an
independent reader that the corpus tests compare with the fast path field by field.
"""

from __future__ import annotations

import warnings

import hl7
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from connectors.errors import MalformedMessage
from connectors.hl7v2.parse import (
    READ_SEGMENTS,
    SEGMENT_SEQUENCE_ERROR,
    FieldReader,
    Header,
    Hl7Message,
    _check_identifiers,
    check_header,
    decode_body,
    read_header,
    require_segments,
)

# hl7apy knows these structure versions; 2.8.1/2.8.2 validate as 2.8.
_HL7APY_VERSION = {
    "2.3": "2.3",
    "2.3.1": "2.3.1",
    "2.4": "2.4",
    "2.5": "2.5",
    "2.5.1": "2.5.1",
    "2.6": "2.6",
    "2.7": "2.7",
    "2.7.1": "2.7.1",
    "2.8": "2.8",
    "2.8.1": "2.8",
    "2.8.2": "2.8",
}


def parse_strict(data: bytes, header: Header | None = None, *, validate: bool = True) -> Hl7Message:
    """Parse with hl7apy; with `validate`, the message must match its HL7 structure.

    Raises:
        MalformedMessage, UnsupportedMessage: as `connectors.hl7v2.parse.parse`, plus
            structure violations found by hl7apy (location: the message structure).
    """
    header = header or read_header(data)
    check_header(header)
    text, segments = decode_body(header, data)
    segment_ids = tuple(segment[:3] for segment in segments)
    require_segments(header, segment_ids)
    wanted = [s for s in segments if s[:3] in READ_SEGMENTS]
    if len(header.encoding_characters) == 3:
        enc = header.encoding_characters
        wanted[0] = wanted[0].replace(f"MSH|{enc}|", f"MSH|{enc[:2]}\x01{enc[2]}|", 1)
    version = _HL7APY_VERSION[header.version]
    if version != header.version:
        segments = [_with_version(segments[0], version), *segments[1:]]
        wanted = [_with_version(wanted[0], version), *wanted[1:]]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if validate:
                parse_message("\r".join(segments), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
            tree = parse_message(
                "\r".join(wanted), validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False
            )
    except HL7apyException:
        raise MalformedMessage(
            "message does not match its HL7 structure",
            location=f"{header.message_type}",
            code=SEGMENT_SEQUENCE_ERROR,
        ) from None
    except (ValueError, IndexError, KeyError, AttributeError):
        raise MalformedMessage(
            "message structure cannot be parsed", location="MSH", code=SEGMENT_SEQUENCE_ERROR
        ) from None
    unescaper = hl7.parse(wanted[0])
    reader = _Hl7apyReader(tree, unescaper)
    _check_identifiers(reader)
    return Hl7Message(header=header, raw=data, text=text, segment_ids=segment_ids, reader=reader)


def _with_version(msh: str, version: str) -> str:
    fields = msh.split("|")
    if len(fields) > 11:
        components = fields[11].split(msh[4])
        fields[11] = msh[4].join([version, *components[1:]])
    return "|".join(fields)


def _position(name: str | None) -> int:
    """`CX_4` → 4; names without a position (leaf data types) → 0."""
    suffix = (name or "").rsplit("_", 1)[-1]
    return int(suffix) if "_" in (name or "") and suffix.isdigit() else 0


def _children_at(element: object, position: int) -> object | None:
    for child in getattr(element, "children", ()):
        if _position(child.name) == position:
            return child  # type: ignore[no-any-return]
    return None


class _Hl7apySegment:
    def __init__(self, segment: object, unescaper: hl7.Message) -> None:
        self._fields: dict[int, list[object]] = {}
        for child in segment.children:  # type: ignore[attr-defined]
            if _position(child.name):  # fields past the version's definition are unnamed; never read
                self._fields.setdefault(_position(child.name), []).append(child)
        self._unescaper = unescaper

    def value(self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 1) -> str:
        repetitions = self._fields.get(field, [])
        if repetition > len(repetitions):
            return ""
        element: object | None = repetitions[repetition - 1]
        for position in (component, subcomponent):
            if element is None:
                return ""
            if any(_position(c.name) for c in getattr(element, "children", ())):
                element = _children_at(element, position)
            elif position != 1:
                return ""
        if element is None:
            return ""
        raw = element.to_er7()  # type: ignore[attr-defined]
        return str(self._unescaper.unescape(raw)).strip()

    def repetitions(self, field: int) -> int:
        return len(self._fields.get(field, []))


class _Hl7apyReader:
    def __init__(self, tree: object, unescaper: hl7.Message) -> None:
        self._segments: dict[str, list[FieldReader]] = {}
        for segment in tree.children:  # type: ignore[attr-defined]
            self._segments.setdefault(segment.name, []).append(_Hl7apySegment(segment, unescaper))

    def segments(self, name: str) -> list[FieldReader]:
        return self._segments.get(name, [])
