"""The audit log's write path (Accept → Integrate → Publish) and its read side (checkpoints,
proofs, entries, export), over the gateway's database and keyring.

Invariants:
- Accept is a durable INSERT into `audit_pending`, in the transaction of whatever the decision
  let happen (`accept`) or in its own (`accept_now`, for refusals); only after that commit is
  anything released. A failure is `AuditUnavailable`: the request fails closed with 503. So is
  a backlog past its refuse limit (gateway/flows/audit_backlog.py): integration has stopped.
- Integrate is single-writer: the PostgreSQL advisory lock (or SQLite's write lock) and a
  compare-and-swap on the head's size; it re-checks each pending leaf's hash and origin, assigns
  contiguous indices, stores completed subtrees, and signs a checkpoint for the new size in the
  same transaction. A checkpoint is served only once that transaction has committed.
- Signing refuses to go back in time (a clock that moved backwards is an alarm, not a checkpoint).
- The signing key is the keyring's newest `audit` key; every `audit` key stays a verifier, so
  checkpoints signed before a rotation still verify.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from audit.bundle import StoredCheckpoint, write_bundle
from audit.checkpoint import Checkpoint, NoteVerifier, public_bytes, sign
from audit.cosignature import Cosignature, CosignerKey
from audit.errors import AuditUnavailable, ProofError
from audit.merkle import CompactRange, consistency_proof, inclusion_proof, leaf_hash
from audit.record import AuditRecord
from connectors.envelope import time_ordered_id
from gateway.flows.audit_backlog import Backlog, BacklogGuard, BacklogLimits
from gateway.flows.audit_receipts import CHECK_CHUNK, Receipts
from gateway.flows.shared_commit import SharedCommit
from gateway.keyring import Keyring
from gateway.log_config import get_logger
from gateway.store import audit as store
from gateway.store.database import after_commit, utc, writer

log = get_logger(__name__)

AUDIT_KEY_PURPOSE = "audit"
CHECKPOINT_WAIT = 10.0  # seconds `checkpoint` waits for another process's integration


def default_origin(keyring: Keyring) -> str:
    """One log per installation: the keyring id is stable and unique to it."""
    return f"consent-gateway.local/{keyring.keyring_id}"


@dataclass(frozen=True)
class Head:
    size: int
    root: bytes


class AuditLog:
    def __init__(
        self,
        *,
        engine: Engine,
        keyring: Keyring,
        origin: str,
        batch: int = 1024,
        backlog: BacklogLimits | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._keyring = keyring
        self.origin = origin
        self._batch = batch
        self._clock = clock
        self._backlog = BacklogGuard(backlog or BacklogLimits(), clock=clock)
        self.receipts = Receipts(self._backlog.limits.max_merge_delay)
        self._shared: SharedCommit[dict[str, Any]] = SharedCommit(self._accept_batch)

    # --- accept -------------------------------------------------------------------------------

    def _rows(self, records: Iterable[AuditRecord]) -> list[dict[str, Any]]:
        now = self._clock()
        rows = []
        for record in records:
            leaf = record.leaf(self.origin)
            rows.append(
                {
                    "record_id": time_ordered_id(),  # the record holds its time anyway
                    "leaf": leaf,
                    "leaf_hash": leaf_hash(leaf),
                    "accepted_at": now,
                }
            )
        return rows

    def accept(self, connection: Connection, records: Sequence[AuditRecord]) -> None:
        """Accept records in the caller's transaction: they commit (or not) with its writes.

        Raises:
            AuditUnavailable: the backlog is past its refuse limit; the caller must fail closed.
        """
        self._backlog.admit(connection)
        self._add(connection, self._rows(records))

    def accept_now(self, records: Sequence[AuditRecord]) -> None:
        """Accept records in a transaction of their own (refusals, reads of the log, pulls),
        shared with whatever other threads accept at the same moment (group commit).

        Raises:
            AuditUnavailable: the records are not durable; the caller must fail closed.
        """
        try:
            self._shared.submit(self._rows(records))
        except AuditUnavailable as shared:  # one exception per waiting thread, not a shared one
            raise AuditUnavailable(str(shared)) from None

    def _accept_batch(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self._writer.begin() as connection:
                self._backlog.admit(connection)
                self._add(connection, rows)
        except SQLAlchemyError as exc:
            log.error("audit_accept_failed", error_type=type(exc).__name__)
            raise AuditUnavailable("the audit log cannot accept records") from None

    def _add(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        store.add_pending(connection=connection, rows=rows)
        record_ids = [row["record_id"] for row in rows]
        after_commit(connection, lambda: self.receipts.issued(record_ids))

    def reconcile(self) -> int:
        """Check the receipts past the merge delay; the number of records found missing."""
        due = self.receipts.due()  # still pending ones go back, to be checked on the next call
        missing = 0
        for start in range(0, len(due), CHECK_CHUNK):
            chunk = due[start : start + CHECK_CHUNK]
            try:
                with self._engine.connect() as connection:
                    integrated, pending = store.known_record_ids(connection=connection, record_ids=chunk)
            except SQLAlchemyError:
                self.receipts.settle(due[start:], integrated=set(), pending=set(due[start:]))  # retry later
                raise
            missing += self.receipts.settle(chunk, integrated, pending)
        return missing

    # --- integrate ----------------------------------------------------------------------------

    def integrate(self, *, wait: float = 0.0) -> int:
        """Integrate one batch of pending records and sign a checkpoint; the number integrated.
        While another process integrates, wait up to `wait` seconds for it (else return 0)."""
        with self._engine.connect() as connection:  # a read first: idle logs take no write lock
            if not store.pending_batch(connection=connection, limit=1):
                return 0
        deadline = time.monotonic() + wait
        while True:
            try:
                return self._integrate_batch()
            except _HeadMoved:
                return 0  # another integrator appended first; its batch stands, ours rolled back
            except _IntegratorBusy:
                if time.monotonic() >= deadline:
                    return 0
                time.sleep(0.02)

    def _integrate_batch(self) -> int:
        with self._writer.begin() as connection:
            if not store.take_integrator_lock(connection):
                raise _IntegratorBusy
            current = store.head(connection=connection)
            pending = store.pending_batch(connection=connection, limit=self._batch)
            if not pending:
                return 0
            compact = CompactRange.from_bytes(current.tree_size, bytes(current.peaks))
            entries, nodes = [], []
            for row in pending:
                leaf = bytes(row.leaf)
                hashed = leaf_hash(leaf)
                document = self._checked(row, leaf, hashed)
                index = compact.size
                for level, node_index, digest in compact.append(hashed):
                    nodes.append({"level": level, "idx": node_index, "hash": digest})
                entries.append(_entry_row(index, row.record_id, leaf, hashed, document))
            new_root = compact.root()
            checkpoint = self._checkpoint_row(connection, compact.size, new_root)
            moved = store.integrate(
                connection=connection,
                old_size=current.tree_size,
                head_row={"tree_size": compact.size, "root": new_root, "peaks": compact.to_bytes()},
                entries=entries,
                nodes=nodes,
                pending_ids=[row.id for row in pending],
                checkpoint=checkpoint,
            )
            if not moved:
                raise _HeadMoved
        return len(entries)

    def integrate_all(self, *, wait: float = 0.0) -> int:
        total = 0
        while count := self.integrate(wait=wait):
            total += count
        if total:
            self._backlog.forget()  # admit again as soon as the backlog is down
        return total

    def receipts_status(self) -> str:
        """ok | missing (a record this process accepted vanished before integration)."""
        return "missing" if self.receipts.missing else "ok"

    def backlog(self, *, fresh: bool = True) -> Backlog:
        """How far integration lags: read afresh (`/readyz`), or as counted within the last
        `recheck` seconds (the metrics, whose two gauges then share one count)."""
        if fresh:
            self._backlog.forget()
        with self._engine.connect() as connection:
            return self._backlog.current(connection)

    def backlog_status(self) -> str:
        """ok | behind | refusing."""
        return self.backlog().status(self._backlog.limits)

    def checkpoint(self) -> str:
        """Integrate everything pending and return the checkpoint of the current size
        (signing one for it if none exists yet, e.g. for the empty log). Records another
        process is integrating are waited for, so the checkpoint covers everything accepted
        before the call."""
        self.integrate_all(wait=CHECKPOINT_WAIT)
        with self._writer.begin() as connection:
            current = store.head(connection=connection)
            existing = store.checkpoint_at(connection=connection, size=current.tree_size)
            if existing is not None:
                return str(existing.note)
            row = self._checkpoint_row(connection, current.tree_size, bytes(current.root))
            if row is None:
                raise AuditUnavailable("the clock moved backwards; no checkpoint signed")
            store.add_checkpoint(connection=connection, row=row)
            return str(row["note"])

    def _checked(self, row: Any, leaf: bytes, hashed: bytes) -> dict[str, Any]:
        """A pending row must still be what was accepted; anything else stops integration."""
        if hashed != bytes(row.leaf_hash):
            raise AuditUnavailable(f"pending record {row.id} does not match its hash; integration stopped")
        document = json.loads(leaf)
        if not isinstance(document, dict) or document.get("log") != self.origin:
            raise AuditUnavailable(f"pending record {row.id} names another log; integration stopped")
        return document

    def _checkpoint_row(self, connection: Connection, size: int, tree_root: bytes) -> dict[str, Any] | None:
        now = self._clock()
        latest = store.latest_checkpoint(connection=connection)
        if latest is not None and utc(latest.signed_at) > now:
            log.error("audit_clock_regressed")
            return None
        key = self._keyring.active_signing_key(AUDIT_KEY_PURPOSE)
        note = sign(Checkpoint(self.origin, size, tree_root), self.origin, key.private_key)
        return {"tree_size": size, "root": tree_root, "note": note, "signed_at": now}

    # --- read ---------------------------------------------------------------------------------

    def verifiers(self) -> list[NoteVerifier]:
        return [
            NoteVerifier(self.origin, public_bytes(key.private_key))
            for key in self._keyring.signing_keys
            if key.purpose == AUDIT_KEY_PURPOSE
        ]

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        with self._engine.connect() as connection:
            yield connection

    def head(self) -> Head:
        with self._engine.connect() as connection:
            current = store.head(connection=connection)
            return Head(size=int(current.tree_size), root=bytes(current.root))

    def latest_note(self, *, cosigned: bool = False) -> str | None:
        """The newest checkpoint (or the newest one a witness cosigned), with its cosignatures."""
        with self._engine.connect() as connection:
            if cosigned:
                size = store.latest_cosigned_size(connection=connection)
                latest = store.checkpoint_at(connection=connection, size=size) if size else None
            else:
                latest = store.latest_checkpoint(connection=connection)
            return None if latest is None else self._with_cosignatures(connection, latest)

    def note_at(self, size: int) -> str | None:
        with self._engine.connect() as connection:
            found = store.checkpoint_at(connection=connection, size=size)
            return None if found is None else self._with_cosignatures(connection, found)

    def _with_cosignatures(self, connection: Connection, checkpoint: Any) -> str:
        size = int(checkpoint.tree_size)
        lines = store.cosignature_lines(connection=connection, sizes=[size]).get(size, [])
        return str(checkpoint.note) + "".join(lines)

    # --- witnesses (reference/audit-log.md 2.6) ------------------------------------------------

    def witnessed_size(self, witness: CosignerKey) -> int:
        """The largest size this witness key has cosigned, as far as this log has stored."""
        with self._engine.connect() as connection:
            return store.latest_cosigned_size(
                connection=connection, witness=witness.name, key_id=witness.key_id
            )

    def add_cosignatures(self, size: int, witness: CosignerKey, found: Sequence[Cosignature]) -> None:
        """Store verified cosignatures of the checkpoint at `size` (see audit.cosignature)."""
        with self._writer.begin() as connection:
            for cosignature in found:
                store.add_cosignature(
                    connection=connection,
                    row={
                        "tree_size": size,
                        "witness": witness.name,
                        "key_id": witness.key_id,
                        "line": cosignature.line,
                        "cosigned_at": datetime.fromtimestamp(cosignature.timestamp, UTC),
                    },
                )

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """Raises: ProofError (outside the tree, or beyond the integrated size)."""
        with self._engine.connect() as connection:
            self._within(connection, size)
            return inclusion_proof(store.SqlHashSource(connection), index, size)

    def consistency(self, first: int, second: int) -> list[bytes]:
        """Raises: ProofError."""
        with self._engine.connect() as connection:
            self._within(connection, second)
            return consistency_proof(store.SqlHashSource(connection), first, second)

    def _within(self, connection: Connection, size: int) -> None:
        current = int(store.head(connection=connection).tree_size)
        if size > current:
            raise ProofError(f"the log has {current} entries, not {size}")

    def export(self, directory: Path) -> int:
        """Write the whole log as a bundle (audit.bundle) for offline verification."""
        with self._engine.connect() as connection:
            cosignatures = store.cosignature_lines(connection=connection)
            checkpoints = [
                StoredCheckpoint(
                    int(row.tree_size), str(row.note) + "".join(cosignatures.get(int(row.tree_size), []))
                )
                for row in store.all_checkpoints(connection=connection)
            ]
            return write_bundle(
                directory,
                origin=self.origin,
                verifier_keys=[v.encode() for v in self.verifiers()],
                leaves=store.stream_leaves(connection=connection),
                checkpoints=checkpoints,
                exported_at=self._clock().isoformat(),
            )


class _IntegratorBusy(Exception):
    """Another process holds the integrator lock (PostgreSQL)."""


class _HeadMoved(Exception):
    """The head's size changed under this integrator: roll its batch back."""


def _entry_row(
    index: int, record_id: str, leaf: bytes, hashed: bytes, document: dict[str, Any]
) -> dict[str, Any]:
    requester = document.get("requester") or {}
    return {
        "idx": index,
        "record_id": record_id,
        "leaf": leaf,
        "leaf_hash": hashed,
        "kind": str(document.get("kind", ""))[:32],
        "person_id": document.get("person_id"),
        "requester_org": requester.get("org") if isinstance(requester, dict) else None,
        "action": document.get("action"),
        "decision": document.get("decision"),
        "recorded_at": datetime.fromisoformat(str(document["recorded"]).replace("Z", "+00:00")),
    }


class Integrator:
    """Integrates and reconciles on an interval in a background thread; a final pass and
    checkpoint at stop. With `integrate=False` (MLLP worker processes) it only reconciles the
    receipts of its own process."""

    def __init__(self, audit_log: AuditLog, interval: float, *, integrate: bool = True) -> None:
        self._log = audit_log
        self._interval = interval
        self._integrate = integrate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-integrator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if self._integrate:
                    self._log.integrate_all()
            except Exception as exc:  # the loop must outlive any one failure
                log.error("audit_integration_failed", error_type=type(exc).__name__)
            try:
                self._log.reconcile()
            except Exception as exc:
                log.error("audit_reconcile_failed", error_type=type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if not self._integrate:
            return
        try:
            self._log.checkpoint()
        except (SQLAlchemyError, AuditUnavailable) as exc:
            log.error("audit_final_checkpoint_failed", error_type=type(exc).__name__)
