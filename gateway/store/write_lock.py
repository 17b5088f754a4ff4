"""A queue for SQLite writers across threads and processes: a file lock beside the database.

SQLite has one writer at a time. A second writer that finds the database locked polls under
`busy_timeout`, sleeping 1, 2, 5, 10 … 100 ms between tries, so when several processes write
(MLLP worker processes beside the HTTP process and its audit integrator) a wait costs many
milliseconds more than the transaction it waits for: with two MLLP workers the p99 ACK latency
was 110 ms and throughput fell below one worker's. Writers that take an exclusive `flock` on a
lock file before BEGIN IMMEDIATE queue in the kernel instead and are woken the moment the one
before them commits or rolls back.

The lock is taken per process (a thread lock, then the flock on one open file per process) and
is advisory: a program that writes without it still meets SQLite's own locking, which remains
the safety net. Readers never take it.

Waiting: in this process it is bounded like `busy_timeout` (`WriteLockTimeout` after `timeout`,
so a thread that opened a second write transaction fails instead of hanging). Across processes
the flock is blocking, as it must be to wake a waiter at once (polling it measured 15% slower
with 2.5x the p99): a process stuck inside a write transaction holds others until it ends or is
killed (the kernel drops a dead process's flocks), where SQLite alone would have failed them
after `busy_timeout`.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError


class WriteLockTimeout(OperationalError):
    """Another writer in this process held the database longer than the timeout: raised where
    SQLite would raise "database is locked", and handled the same way."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            "BEGIN IMMEDIATE", None, sqlite3.OperationalError(f"database is locked (waited {timeout} s)")
        )


class WriteLock:
    """Held from BEGIN IMMEDIATE until that transaction's COMMIT or ROLLBACK."""

    def __init__(self, database: Path, *, timeout: float = 5.0) -> None:
        self.path = database.with_name(database.name + ".write-lock")
        self._timeout = timeout
        self._thread_lock = threading.Lock()
        self._fd: int | None = None  # open only while held: closing it drops the flock
        self._holder: int | None = None  # id of the DBAPI connection in its write transaction

    def acquire(self, dbapi_connection: Any) -> None:
        """Raises: WriteLockTimeout."""
        if not self._thread_lock.acquire(timeout=self._timeout):
            raise WriteLockTimeout(self._timeout)
        try:
            self._flock()
        except BaseException:
            self._thread_lock.release()
            raise
        self._holder = _raw_id(dbapi_connection)

    def release(self, dbapi_connection: Any) -> None:
        """Release if `dbapi_connection` holds the lock (a no-op for readers' transactions)."""
        if self._holder is None or self._holder != _raw_id(dbapi_connection):
            return
        self._holder = None
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)  # drops the flock
        finally:
            self._thread_lock.release()

    def _flock(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits in the kernel, without the GIL
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd


def _raw_id(connection: Any) -> int:
    """The identity of the DBAPI connection behind SQLAlchemy's pool proxy (or of itself)."""
    return id(getattr(connection, "dbapi_connection", connection))
