"""Errors of the audit log. Messages name indices, sizes and rules, never a record's content.

AuditError
├── AuditUnavailable       the log cannot accept a record now (the caller fails closed: 503)
├── ProofError             a proof cannot be made for these sizes/indices (a client error)
├── RecordError            a record or leaf is not acceptable (not canonical, too big, floats, ...)
├── CheckpointError        a signed note is malformed or carries no valid trusted signature
└── VerificationFailed     an exported log does not verify; `index` is the first bad one
"""

from __future__ import annotations


class AuditError(Exception):
    """Root of the audit log's errors."""


class AuditUnavailable(AuditError):
    pass


class ProofError(AuditError):
    pass


class RecordError(AuditError):
    pass


class CheckpointError(AuditError):
    pass


class VerificationFailed(AuditError):
    def __init__(self, index: int | None, reason: str) -> None:
        where = f"index {index}: " if index is not None else ""
        super().__init__(f"{where}{reason}")
        self.index = index
        self.reason = reason
