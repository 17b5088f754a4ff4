"""MSH-8 (Security): where MLLP senders put their shared secret. Pure functions on ER7 bytes.

Invariants:
- `blank_msh8` changes nothing but the content of every MSH-8, so a stored payload never
  holds a credential and is otherwise byte for byte what was sent.
"""

from __future__ import annotations

import re

from connectors.hl7v2.parse import normalise


def security_field(data: bytes) -> str:
    """MSH-8 of the first MSH in the frame (a batch's messages share one sender)."""
    for segment in normalise(data).split(b"\r"):
        if segment.startswith(b"MSH|"):
            fields = segment.split(b"|")
            return fields[7].decode("ascii", "replace").strip() if len(fields) > 7 else ""
    return ""


_MSH8 = re.compile(rb"((?:^|[\r\n])(?:\xef\xbb\xbf)?MSH\|(?:[^|\r\n]*\|){6})[^|\r\n]*")


def blank_msh8(data: bytes) -> bytes:
    """The frame with every MSH-8 emptied, so the secret is never stored; all else verbatim."""
    return _MSH8.sub(rb"\1", data)
