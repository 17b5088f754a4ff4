"""HL7 v2 acknowledgements (original mode: AA, AE, AR) built from the message's own MSH.

Invariants:
- MSH-3/4 and MSH-5/6 are swapped, MSH-9 is `ACK^<event>^ACK`, MSH-11/12 are echoed, MSA-2
  is the message's control id; the ACK uses the message's own separators.
- An error adds an ERR segment: ERR-2 location, ERR-3 HL7 table 0357 code, ERR-4 severity (2.5
  and later); ERR-1 with location and code for 2.3 and 2.4. Texts are the gateway's fixed
  phrases, never values from the message.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from connectors.errors import ConnectorError
from connectors.hl7v2.parse import APPLICATION_INTERNAL_ERROR, Header

ACCEPT, ERROR, REJECT = "AA", "AE", "AR"
_LOCATION = re.compile(r"^([A-Z][A-Z0-9]{2})(?:-(\d+))?$")
_STANDARD = Header(
    field_separator="|",
    encoding_characters="^~\\&",
    msh_fields=("|", "^~\\&"),
    charset="utf-8",
    message_type="",
    trigger_event="",
    control_id="",
    processing_id="P",
    version="2.5",
)


def build_ack(
    header: Header | None, code: str, error: ConnectorError | None = None, *, now: datetime | None = None
) -> bytes:
    """ACK text (CR-terminated segments, encoded in the message's character set)."""
    h = header or _STANDARD
    fs = h.field_separator
    enc = h.encoding_characters if len(h.encoding_characters) == 4 else "^~\\&"
    cs, sub = enc[0], enc[3]
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    msh = fs.join(
        [
            "MSH",
            enc,
            h.msh(5),
            h.msh(6),
            h.msh(3),
            h.msh(4),
            stamp,
            "",
            cs.join(["ACK", h.trigger_event, "ACK"]),
            f"ACK{secrets.token_hex(8)}",
            h.msh(11) or "P",
            h.msh(12) or "2.5",
        ]
    )
    segments = [msh, fs.join(["MSA", code, h.control_id, _clean(error.reason, enc + fs) if error else ""])]
    if error is not None:
        segments.append(_err(error, h.version, fs, cs, sub, enc + fs))
    return ("\r".join(segments) + "\r").encode(h.charset if header else "ascii", "replace")


def _err(error: ConnectorError, version: str, fs: str, cs: str, sub: str, specials: str) -> str:
    code = error.code or APPLICATION_INTERNAL_ERROR
    text = _clean(error.reason, specials)
    segment, field = _location(error.location)
    if version.startswith(("2.3", "2.4")):
        return fs.join(["ERR", cs.join([segment, "1", field, sub.join([code, text, "HL70357"])])])
    location = cs.join([segment, "1", field]) if segment else ""
    return fs.join(["ERR", "", location, cs.join([code, text, "HL70357"]), "E"])


def _location(location: str | None) -> tuple[str, str]:
    match = _LOCATION.match(location or "")
    if not match:
        return "", ""
    return match.group(1), match.group(2) or ""


def _clean(text: str, specials: str) -> str:
    return "".join(" " if ch in specials else ch for ch in text)[:80]
