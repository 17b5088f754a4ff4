"""Envelope vocabulary helpers."""

from __future__ import annotations

import time
import uuid

from connectors.envelope import time_ordered_id


def test_time_ordered_ids_are_uuid7_carrying_their_millisecond() -> None:
    made = []
    for _ in range(3):
        before = time.time_ns() // 1_000_000
        made.append((before, uuid.UUID(time_ordered_id())))
        time.sleep(0.002)
    for before, value in made:
        assert (value.version, value.variant) == (7, uuid.RFC_4122)
        assert before <= value.int >> 80 <= before + 1
    assert sorted(str(v) for _, v in made) == [str(v) for _, v in made]
