"""Group commit for threads (gateway/flows/shared_commit.py): every submitter returns only once
its rows are written, batches form while a write is in progress, and a failed write fails every
submitter whose rows it held and no other."""

from __future__ import annotations

import threading

import pytest

from gateway.flows.shared_commit import SharedCommit, _Submission


class _Store:
    def __init__(self, fail_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.fail_first = fail_first

    def write(self, rows: list[int]) -> None:
        self.entered.set()
        self.release.wait(timeout=30)  # the first writer holds the "transaction" open
        if self.fail_first and not self.batches:
            self.batches.append([])
            raise RuntimeError("disk full")
        self.batches.append(list(rows))


def _submit_all(
    shared: SharedCommit[int], groups: list[list[int]], outcomes: dict[int, str]
) -> list[threading.Thread]:
    def submit(number: int, rows: list[int]) -> None:
        try:
            shared.submit(rows)
            outcomes[number] = "committed"
        except RuntimeError as exc:
            outcomes[number] = str(exc)

    return [threading.Thread(target=submit, args=(n, rows)) for n, rows in enumerate(groups)]


def _queued(shared: SharedCommit[int]) -> int:
    with shared._condition:
        return len(shared._queue)


def test_submitters_waiting_on_a_write_share_the_next_one() -> None:
    store = _Store()
    shared = SharedCommit(store.write)
    outcomes: dict[int, str] = {}
    threads = _submit_all(shared, [[n * 10, n * 10 + 1] for n in range(8)], outcomes)
    threads[0].start()
    assert store.entered.wait(timeout=30)
    for thread in threads[1:]:
        thread.start()
    while _queued(shared) < 7:  # all seven others wait behind the open write
        threading.Event().wait(0.01)
    store.release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes == dict.fromkeys(range(8), "committed")
    assert len(store.batches) == 2  # the first alone, the seven others together
    assert sorted(row for batch in store.batches for row in batch) == sorted(
        row for n in range(8) for row in (n * 10, n * 10 + 1)
    )


def test_a_failed_write_fails_its_submitters_only() -> None:
    store = _Store(fail_first=True)
    shared = SharedCommit(store.write)
    outcomes: dict[int, str] = {}
    threads = _submit_all(shared, [[1], [2], [3]], outcomes)
    threads[0].start()
    assert store.entered.wait(timeout=30)
    threads[1].start()
    threads[2].start()
    while _queued(shared) < 2:
        threading.Event().wait(0.01)
    store.release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes == {0: "disk full", 1: "committed", 2: "committed"}
    assert store.batches == [[], [2, 3]]


def test_a_leader_whose_rows_did_not_fit_the_batch_writes_again_before_returning() -> None:
    written: list[list[int]] = []
    shared = SharedCommit(written.append, max_rows=2)
    shared._queue.append(_Submission([7, 8]))  # submitted earlier, still queued
    shared.submit([9])
    assert written == [[7, 8], [9]]


def test_an_error_reaches_a_lone_submitter() -> None:
    def broken(_rows: list[int]) -> None:
        raise RuntimeError("no database")

    with pytest.raises(RuntimeError, match="no database"):
        SharedCommit(broken).submit([1])
