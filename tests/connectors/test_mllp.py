"""MLLP framing: any split of the byte stream gives the same frames; oversize frames are bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connectors.hl7v2.mllp import Frame, FrameDecoder, FrameTooLarge, encode

payloads = st.lists(
    st.binary(max_size=200).filter(lambda b: b"\x1c\x0d" not in b and b"\x0b" not in b),
    min_size=1,
    max_size=8,
)


@given(messages=payloads, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20))
def test_frames_survive_any_split_of_the_stream(messages: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode(m) for m in messages)
    decoder = FrameDecoder(max_frame_bytes=1000)
    out: list[Frame | FrameTooLarge] = []
    previous = 0
    for cut in [*sorted({c % (len(stream) + 1) for c in cuts}), len(stream)]:
        out += decoder.feed(stream[previous:cut])
        previous = cut
    assert out == [Frame(m) for m in messages]
    assert not decoder.mid_frame


@given(size=st.integers(min_value=101, max_value=5000), chunk=st.integers(min_value=1, max_value=997))
def test_oversize_frame_is_reported_once_and_the_next_frame_is_fine(size: int, chunk: int) -> None:
    stream = encode(b"x" * size) + encode(b"next")
    decoder = FrameDecoder(max_frame_bytes=100)
    out: list[Frame | FrameTooLarge] = []
    for start in range(0, len(stream), chunk):
        out += decoder.feed(stream[start : start + chunk])
        assert len(decoder._pending) <= 100 + 1 + chunk, "memory stays bounded while discarding"
    assert out == [FrameTooLarge(size=size), Frame(b"next")]


def test_junk_between_frames_is_skipped_and_an_unfinished_frame_is_pending() -> None:
    decoder = FrameDecoder(max_frame_bytes=100)
    assert decoder.feed(b"noise\r\n" + encode(b"one") + b"\r\n" + b"\x0bhalf") == [Frame(b"one")]
    assert decoder.mid_frame
