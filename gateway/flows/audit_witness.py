"""Publish checkpoints to the witnesses (C2SP tlog-witness) and keep their cosignatures.

Every `CGW_AUDIT_WITNESS_INTERVAL` seconds the newest checkpoint goes to each configured witness
with a consistency proof from the last size that witness cosigned. A cosignature comes back,
is verified against the witness's key and stored; checkpoints are then published carrying both
the log's signature and the witness's (reference/audit-log.md 2.6).

Statuses, per witness (`/readyz` shows the worst):
- ok: the newest checkpoint is cosigned, or was when last asked;
- unreachable: the witness did not answer (retried next time; logs keep being written);
- refused: the witness refuses this log's checkpoints, e.g. a fork (422/409 at the same size);
- ahead: the witness has cosigned a larger tree than this log holds — the database was rolled
  back or truncated (T8, T9). It is an alarm: `/readyz` fails until someone has looked.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from audit.checkpoint import parse_body, signature_lines
from audit.cosignature import CosignerKey, cosignatures
from audit.errors import CheckpointError, ProofError
from gateway.flows.audit_log import AuditLog
from gateway.log_config import get_logger

log = get_logger(__name__)

REQUEST_TIMEOUT = 10.0  # seconds: a witness may fsync before it answers
_SEVERITY = {"ok": 0, "unreachable": 1, "refused": 2, "ahead": 3}


@dataclass(frozen=True)
class WitnessEndpoint:
    url: str  # the witness's prefix; requests go to <url>/add-checkpoint
    key: CosignerKey


class WitnessPublisher:
    def __init__(
        self,
        audit_log: AuditLog,
        witnesses: Sequence[WitnessEndpoint],
        *,
        interval: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._log = audit_log
        self._witnesses = list(witnesses)
        self._interval = interval
        self._client = client or httpx.Client(timeout=REQUEST_TIMEOUT)
        self._statuses = {w.key.name: "ok" for w in self._witnesses}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def status(self) -> str:
        """The worst status over the witnesses; `none` when none is configured."""
        if not self._witnesses:
            return "none"
        return max(self._statuses.values(), key=_SEVERITY.__getitem__)

    def describe(self) -> list[tuple[WitnessEndpoint, str]]:
        return [(w, self._statuses[w.key.name]) for w in self._witnesses]

    def publish(self) -> dict[str, str]:
        """Ask every witness to cosign the newest checkpoint; the status of each, by name."""
        note = self._log.latest_note()
        if note is None:
            return dict(self._statuses)
        size = parse_body(signature_lines(note)[0]).size
        for witness in self._witnesses:
            status = self._publish_to(witness, note, size)
            previous, self._statuses[witness.key.name] = self._statuses[witness.key.name], status
            if status == "ahead":
                log.error("audit_witness", status=status, count=size)
            elif status != "ok":
                log.warning("audit_witness", status=status, count=size)
            elif previous != "ok":
                log.info("audit_witness", status=status, count=size)
        return dict(self._statuses)

    def _publish_to(self, witness: WitnessEndpoint, note: str, size: int) -> str:
        old = self._log.witnessed_size(witness.key)
        if old == size:
            return "ok"
        for _attempt in range(2):  # a 409 names the witness's size: ask once more from there
            if old > size:
                return "ahead"
            try:
                proof = self._log.consistency(old, size) if 0 < old < size else []
            except ProofError:
                return "refused"
            lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
            try:
                answer = self._client.post(
                    f"{witness.url.rstrip('/')}/add-checkpoint",
                    content=f"old {old}\n{lines}\n{note}".encode(),
                )
            except httpx.HTTPError:
                return "unreachable"
            if answer.status_code == 200:
                return self._store(witness, note, size, answer.text)
            if answer.status_code != 409 or not answer.text.strip().isdigit():
                return "unreachable" if answer.status_code >= 500 else "refused"
            held = int(answer.text.strip())
            if held == old:
                return "refused"  # the same size with another root: the witness saw a fork
            old = held
        return "refused"

    def _store(self, witness: WitnessEndpoint, note: str, size: int, answer: str) -> str:
        try:
            found = cosignatures(note + answer, [witness.key])
        except CheckpointError:
            found = []
        if not found:
            return "refused"  # an answer that is not this witness's valid cosignature
        self._log.add_cosignatures(size, witness.key, found)
        return "ok"

    # --- the background thread ----------------------------------------------------------------

    def start(self) -> None:
        if not self._witnesses:
            return
        self._thread = threading.Thread(target=self._run, name="audit-witness", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.publish()
            except Exception as exc:  # the loop must outlive any one failure
                log.error("audit_witness_failed", error_type=type(exc).__name__)

    def stop(self) -> None:
        """Stop, after one last round (the final checkpoint is signed before this is called)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            try:
                self.publish()
            except Exception as exc:
                log.error("audit_witness_failed", error_type=type(exc).__name__)
        self._client.close()
