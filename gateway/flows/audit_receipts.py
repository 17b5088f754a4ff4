"""The reconciler: every audit record this process accepted must reach the tree.

A record is durable once its row in `audit_pending` commits, but until the integrator moves it
into the tree it is only a row that a database insider could delete, leaving no trace in any
proof (reference/audit-log.md 2.5, "Reconciler"). So each process keeps the receipts of the
records it accepted (record ids, counted only after their transaction committed) and, once the
maximum merge delay has passed, checks that each is in `audit_entries`:
- integrated: forgotten;
- still pending: checked again later (the backlog warning covers a slow integrator);
- in neither: it was removed without being integrated, which the gateway never does. The
  process logs `audit_records_missing` (a count) and reports it until restarted; `/readyz`
  answers 503 with `"audit_receipts": "missing"`.

Receipts live in memory: a restart forgets them (its records are then only as safe as the
database), and the number kept is bounded by what arrives within one merge delay.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from gateway.log_config import get_logger

log = get_logger(__name__)

CHECK_CHUNK = 500  # record ids per query


class Receipts:
    def __init__(self, max_merge_delay: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._delay = max_merge_delay
        self._clock = clock
        self._lock = threading.Lock()
        self._issued: deque[tuple[float, str]] = deque()  # (when committed, record id), oldest first
        self.missing = 0  # records found neither pending nor integrated, since start

    def issued(self, record_ids: Iterable[str]) -> None:
        """Records whose transaction has committed (call from `after_commit`)."""
        now = self._clock()
        with self._lock:
            self._issued.extend((now, record_id) for record_id in record_ids)

    def due(self) -> list[str]:
        """The receipts older than the merge delay, taken out to be checked."""
        cutoff = self._clock() - self._delay
        taken = []
        with self._lock:
            while self._issued and self._issued[0][0] <= cutoff:
                taken.append(self._issued.popleft()[1])
        return taken

    def settle(self, checked: list[str], integrated: set[str], pending: set[str]) -> int:
        """Forget the integrated, keep the pending for later; count and report the rest."""
        now = self._clock()
        lost = [r for r in checked if r not in integrated and r not in pending]
        waiting = [r for r in checked if r in pending and r not in integrated]
        with self._lock:  # back at the head, due again: the deque stays in time order
            self._issued.extendleft((now - self._delay, r) for r in reversed(waiting))
            self.missing += len(lost)
        if lost:
            log.error("audit_records_missing", count=len(lost))
        return len(lost)

    def outstanding(self) -> int:
        with self._lock:
            return len(self._issued)
