"""Readiness: can this instance serve requests right now (database answers, schema current)?"""

from __future__ import annotations

from sqlalchemy import Engine

from gateway.store.database import DatabaseUnavailable, SchemaOutdated, check_schema_current


def readiness(engine: Engine) -> dict[str, str]:
    """The checks a load balancer reads; all values "ok"/"current" means ready."""
    try:
        check_schema_current(engine)
    except SchemaOutdated:
        return {"database": "ok", "schema": "outdated"}
    except DatabaseUnavailable:
        return {"database": "unreachable"}
    return {"database": "ok", "schema": "current"}


def is_ready(checks: dict[str, str]) -> bool:
    return checks == {"database": "ok", "schema": "current"}
