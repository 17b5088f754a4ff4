"""Back-pressure on the audit log: when integration falls behind, warn, then refuse new records.

Records are accepted into `audit_pending` and integrated into the tree by one integrator
(reference/audit-log.md 2.5). If the integrator stops (a pending row that fails its hash check
stops it on purpose, a lost advisory lock, a dead process), the gateway would go on accepting
and disclosing with nothing reaching the tree, where deleting a pending row leaves no trace.
So, as Tessera's pushback does:
- past `warn` pending records, or when the oldest has waited longer than the maximum merge delay,
  the gateway logs `audit_backlog` (status, count of pending records, seconds the oldest
  has waited) at most once a minute and `/readyz`
  says `audit_log: behind`;
- past `refuse` pending records, accepting a record raises `AuditUnavailable`: every request
  fails closed (HTTP 503, HL7 `AE` "resend later") and `/readyz` says `audit_log: refusing`, until
  the integrator catches up.

The count is read at most once per `recheck` seconds per process, so a request pays for the
query about once a second, not every time (and the refuse limit can be passed by what arrives
within that second).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from audit.errors import AuditUnavailable
from gateway.log_config import get_logger
from gateway.store import audit as store
from gateway.store.database import utc

log = get_logger(__name__)

WARN_INTERVAL = 60.0  # seconds between two `audit_backlog` warnings from one process


@dataclass(frozen=True)
class BacklogLimits:
    warn: int = 2048
    refuse: int = 4096  # Tessera's default pushback: 4096 outstanding entries
    max_merge_delay: float = 60.0  # seconds a record may wait for integration
    recheck: float = 1.0  # seconds between two counts of the backlog in one process


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_seconds: float  # how long the oldest pending record has waited; 0 when none

    def status(self, limits: BacklogLimits) -> str:
        """ok | behind | refusing (the `/readyz` check)."""
        if self.pending >= limits.refuse:
            return "refusing"
        if self.pending >= limits.warn or self.oldest_seconds > limits.max_merge_delay:
            return "behind"
        return "ok"


class BacklogGuard:
    def __init__(
        self, limits: BacklogLimits, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._read_at = -float("inf")  # monotonic time of the last count
        self._last: Backlog = Backlog(0, 0.0)
        self._warned_at = -float("inf")

    def current(self, connection: Connection) -> Backlog:
        """The backlog as last read, read again through `connection` once `recheck` has passed."""
        now = time.monotonic()
        with self._lock:
            if now - self._read_at < self.limits.recheck:
                return self._last
        count, oldest = store.backlog(connection=connection)
        waited = max(0.0, (self._clock() - utc(oldest)).total_seconds()) if oldest is not None else 0.0
        backlog = Backlog(count, waited)
        with self._lock:
            self._last, self._read_at = backlog, now
        self._warn(backlog, now)
        return backlog

    def admit(self, connection: Connection) -> None:
        """Raises: AuditUnavailable past the refuse limit (the caller fails closed)."""
        if self.current(connection).status(self.limits) == "refusing":
            raise AuditUnavailable("the audit log is too far behind to accept records; retry later")

    def forget(self) -> None:
        """Read the count afresh next time (after an integration pass, say)."""
        with self._lock:
            self._read_at = -float("inf")

    def _warn(self, backlog: Backlog, now: float) -> None:
        status = backlog.status(self.limits)
        if status == "ok":
            return
        with self._lock:
            if now - self._warned_at < WARN_INTERVAL:
                return
            self._warned_at = now
        log.warning(
            "audit_backlog",
            status=status,
            count=backlog.pending,
            oldest_seconds=round(backlog.oldest_seconds, 1),
        )
