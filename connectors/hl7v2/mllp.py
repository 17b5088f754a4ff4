"""MLLP framing (HL7 v2 Minimal Lower Layer Protocol, release 2): a pure, incremental codec.

A frame is `<VT> payload <FS><CR>` (0x0B … 0x1C 0x0D). The socket server feeds received bytes
in; complete frames, and markers for frames that were too large, come out.

Invariants:
- Bytes outside a frame (before a <VT>) are skipped, as interface engines do.
- A frame larger than `max_frame_bytes` is discarded as it streams (memory stays bounded) and
  reported once, when its end block arrives, so the sender can be answered with a NAK and the
  connection stays usable.
- Nothing is lost between feeds: a frame split across any number of reads comes out whole.

Example:
    >>> decoder = FrameDecoder(max_frame_bytes=1024)
    >>> decoder.feed(encode(b"MSH|^~\\\\&|A")[:5]) + decoder.feed(encode(b"MSH|^~\\\\&|A")[5:])
    [Frame(data=b'MSH|^~\\\\&|A')]
"""

from __future__ import annotations

from dataclasses import dataclass

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"


@dataclass(frozen=True)
class Frame:
    data: bytes


@dataclass(frozen=True)
class FrameTooLarge:
    size: int  # bytes received for the frame before and while discarding it


def encode(payload: bytes) -> bytes:
    return START_BLOCK + payload + END_BLOCK


class FrameDecoder:
    """Incremental MLLP decoder with a size limit."""

    def __init__(self, max_frame_bytes: int) -> None:
        self._max = max_frame_bytes
        self._pending = bytearray()
        self._in_frame = False
        self._discarding = False
        self._discarded = 0
        self._scan_from = 0

    @property
    def mid_frame(self) -> bool:
        """True when a frame has started but not ended (a dropped connection loses it)."""
        return self._in_frame

    def feed(self, chunk: bytes) -> list[Frame | FrameTooLarge]:
        out: list[Frame | FrameTooLarge] = []
        self._pending += chunk
        while True:
            if not self._in_frame:
                start = self._pending.find(START_BLOCK)
                if start < 0:
                    self._pending.clear()  # junk between frames is skipped
                    return out
                del self._pending[: start + 1]
                self._in_frame, self._scan_from = True, 0
            # Scan only new bytes, less one: the end block may straddle two reads.
            end = self._pending.find(END_BLOCK, max(self._scan_from - 1, 0))
            if end < 0:
                if self._discarding or len(self._pending) > self._max + 1:
                    self._discarding = True
                    self._discarded += len(self._pending) - 1
                    del self._pending[:-1]  # keep a possible <FS>
                self._scan_from = len(self._pending)
                return out
            data = bytes(self._pending[:end])
            del self._pending[: end + len(END_BLOCK)]
            self._in_frame = False
            if self._discarding or len(data) > self._max:
                out.append(FrameTooLarge(size=self._discarded + len(data)))
                self._discarding, self._discarded = False, 0
            else:
                out.append(Frame(data=data))
