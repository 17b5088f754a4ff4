"""Group commit for threads: concurrent requests that each need rows made durable share one
transaction (reference/audit-log.md 2.5, "batched group commit under concurrency").

Whoever submits while no write is in progress becomes the leader: it takes everything queued so
far (its own rows included) and writes it in one transaction, while later submitters queue for
the next one. Every submitter returns only once the transaction holding its rows has committed,
or raises the error that transaction failed with — so each still gets "durable before
released", at one commit (one fsync, one turn of the write lock) per batch instead of per
request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Row = TypeVar("Row")


@dataclass
class _Submission(Generic[Row]):
    rows: Sequence[Row]
    done: bool = False
    error: BaseException | None = field(default=None)


class SharedCommit(Generic[Row]):
    def __init__(self, write: Callable[[list[Row]], None], *, max_rows: int = 512) -> None:
        """`write` makes every row durable in one transaction, or raises (then none is)."""
        self._write = write
        self._max_rows = max_rows
        self._condition = threading.Condition()
        self._queue: list[_Submission[Row]] = []
        self._writing = False
        self.batches = 0  # transactions written (for tests and figures)

    def submit(self, rows: Sequence[Row]) -> None:
        """Return once `rows` are committed. Raises: whatever the shared transaction raised."""
        mine = _Submission(rows)
        with self._condition:
            self._queue.append(mine)
            while not mine.done:
                if self._writing:
                    self._condition.wait()
                    continue
                self._writing = True  # lead: write what is queued (maybe not yet ours: loop)
                batch = self._take()
                self._condition.release()
                try:
                    error = self._written(batch)
                finally:
                    self._condition.acquire()
                for submission in batch:
                    submission.done, submission.error = True, error
                self.batches += 1
                self._writing = False
                self._condition.notify_all()
        if mine.error is not None:
            raise mine.error

    def _written(self, batch: list[_Submission[Row]]) -> BaseException | None:
        try:
            self._write([row for submission in batch for row in submission.rows])
        except BaseException as exc:  # handed to every submitter of the batch
            return exc
        return None

    def _take(self) -> list[_Submission[Row]]:
        """The queued submissions up to `max_rows` rows (at least one), oldest first."""
        taken: list[_Submission[Row]] = []
        count = 0
        while self._queue and (not taken or count + len(self._queue[0].rows) <= self._max_rows):
            submission = self._queue.pop(0)
            taken.append(submission)
            count += len(submission.rows)
        return taken
