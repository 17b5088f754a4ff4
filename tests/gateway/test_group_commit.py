"""The HL7 group committer (gateway/mllp_server.py): senders answered together share the next
commit, a lone sender never waits, the wait adapts when senders leave, and a failed write
answers every message it held with a NAK."""

from __future__ import annotations

import asyncio
import threading
from datetime import date

from gateway.flows.ingest import Hl7Item
from gateway.mllp_server import GroupCommitter
from tests.builders.hl7 import Person, adt


class _Writer:
    """Stands in for the ingest service: records each batch and answers AA for every item."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[int] = []
        self.fail = fail
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def hl7_many(self, items: list[Hl7Item]) -> list[bytes]:
        self.entered.set()
        self.release.wait(timeout=30)
        self.batches.append(len(items))
        if self.fail:
            raise RuntimeError("disk full")
        return [b"MSA|AA|" + item.data for item in items]


def _item(n: int) -> Hl7Item:
    person = Person(mrn=f"M{n}", family="Doe", given="Jo", birth_date=date(1980, 1, 1))
    return Hl7Item(sender=None, data=adt(person, control_id=f"C{n}").encode())  # type: ignore[arg-type]


async def _sender(committer: GroupCommitter, first: int, count: int, pause: float) -> list[bytes]:
    """Send `count` messages, each after the ACK of the one before and a pause."""
    acks = []
    for n in range(first, first + count):
        acks.append(await committer.submit(_item(n)))
        await asyncio.sleep(pause)
    return acks


async def _run(writer: _Writer, commit_delay: float, *senders: tuple[int, float]) -> list[list[bytes]]:
    committer = GroupCommitter(writer, commit_delay=commit_delay)
    await committer.start()
    try:
        return await asyncio.gather(
            *(_sender(committer, 100 * s, count, pause) for s, (count, pause) in enumerate(senders))
        )
    finally:
        await committer.stop()


def test_senders_answered_together_share_the_next_commit() -> None:
    writer = _Writer()
    # Each sender comes back at its own pace (up to 30 ms): still one commit per round.
    acks = asyncio.run(_run(writer, 10.0, (3, 0.0), (3, 0.01), (3, 0.02), (3, 0.03)))
    assert writer.batches == [4, 4, 4]
    assert all(ack.startswith(b"MSA|AA|") for sender in acks for ack in sender)
    assert [len(sender) for sender in acks] == [3, 3, 3, 3]


def test_senders_that_arrived_during_a_write_are_waited_for_with_those_it_answered() -> None:
    async def scenario(writer: _Writer) -> None:
        committer = GroupCommitter(writer, commit_delay=10.0)
        await committer.start()
        try:
            first = [asyncio.create_task(_sender(committer, n, 3, 0.0)) for n in (0, 100)]
            assert await asyncio.to_thread(writer.entered.wait, 30)
            second = [asyncio.create_task(_sender(committer, n, 2, 0.0)) for n in (200, 300)]
            assert committer._queue is not None
            while committer._queue.qsize() < 2:  # both arrive while the first batch is written
                await asyncio.sleep(0.001)
            writer.release.set()
            await asyncio.gather(*first, *second)
        finally:
            await committer.stop()

    writer = _Writer()
    writer.release.clear()  # the first batch's write waits for the second pair of senders
    asyncio.run(scenario(writer))
    # Two and two would stay out of step forever; the second batch waits for the first pair.
    assert writer.batches == [2, 4, 4]


def test_a_lone_sender_never_waits_for_the_commit_delay() -> None:
    writer = _Writer()
    # Were it to wait, three messages would take 30 minutes: wait_for fails the test long before.
    asyncio.run(asyncio.wait_for(_run(writer, 600.0, (3, 0.0)), timeout=60))
    assert writer.batches == [1, 1, 1]


def test_when_senders_leave_the_wait_ends_at_the_delay_and_then_adapts() -> None:
    writer = _Writer()
    asyncio.run(_run(writer, 0.05, (1, 0.0), (1, 0.0), (3, 0.0), (3, 0.0)))
    # Round one holds all four; two leave, so round two waits out the delay once for the
    # missing two, and round three expects two and does not wait.
    assert writer.batches == [4, 2, 2]


def test_a_failed_write_answers_every_message_it_held_with_a_nak() -> None:
    writer = _Writer(fail=True)
    acks = asyncio.run(_run(writer, 0.0, (1, 0.0), (1, 0.0)))
    assert writer.batches == [2]
    for (ack,) in acks:
        assert b"MSA|AE|" in ack
        assert b"could not be stored" in ack
