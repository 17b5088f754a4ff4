"""Audit records for tests that write the log in process."""

from __future__ import annotations

from datetime import UTC, datetime

from audit.record import AuditRecord, Kind


def push_record(n: int, org_id: str = "st-marys") -> AuditRecord:
    """The record of a permitted push by `org_id` about person-`n`."""
    return AuditRecord(
        kind=Kind.DECISION,
        action="push_record",
        decision="permit",
        outcome="stored",
        recorded=datetime.now(UTC),
        requester={"org": org_id, "client": f"{org_id}-ehr", "user": None},
        purpose="COC",
        person_id=f"person-{n}",
        reasons=["PUSH-INGEST"],
    )
