"""Readiness: can this instance serve requests right now (database answers, schema current,
the audit log accepts records and has lost none of this process's)?"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.flows.audit_log import AuditLog
from gateway.store.database import DatabaseUnavailable, SchemaOutdated, check_schema_current


def readiness(engine: Engine, audit: AuditLog, witnesses: str = "none") -> dict[str, str]:
    """The checks a load balancer reads; see `is_ready`."""
    try:
        check_schema_current(engine)
    except SchemaOutdated:
        return {"database": "ok", "schema": "outdated"}
    except DatabaseUnavailable:
        return {"database": "unreachable"}
    try:
        audit_status = audit.backlog_status()
    except SQLAlchemyError:
        return {"database": "unreachable"}
    return {
        "database": "ok",
        "schema": "current",
        "audit_log": audit_status,
        "audit_receipts": audit.receipts_status(),
        "audit_witnesses": witnesses,
    }


def is_ready(checks: dict[str, str]) -> bool:
    """Ready: the database answers at the current schema, the audit log is not refusing
    (`behind` is ready: records are still accepted, and the operator has been warned), no
    record this process accepted has vanished before integration, and no witness holds a larger
    tree than the log (a rollback). An unreachable or refusing witness is shown, not fatal: the
    log keeps recording and the cosigning catches up."""
    return (
        checks.get("database") == "ok"
        and checks.get("schema") == "current"
        and checks.get("audit_log") in {"ok", "behind"}
        and checks.get("audit_receipts") == "ok"
        and checks.get("audit_witnesses") != "ahead"
    )
