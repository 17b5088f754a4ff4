"""Audit records for tests that write the log in process."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, text

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


def forge_pending_row(engine: Engine) -> None:
    """A pending row whose leaf does not hash to its recorded hash: the integrator stops at it on
    purpose, so whatever is accepted after it stays pending."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_pending (record_id, leaf, leaf_hash, accepted_at) "
                "VALUES ('forged', :leaf, :hash, :at)"
            ),
            {"leaf": b'{"v":1}', "hash": b"\x00" * 32, "at": datetime.now(UTC)},
        )
