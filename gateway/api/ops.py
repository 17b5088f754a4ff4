"""Operator endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from gateway.deps import ServicesDep
from gateway.metrics import CONTENT_TYPE
from gateway.store.database import DatabaseUnavailable, SchemaOutdated, check_schema_current

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its schema is current",
    responses={503: {"description": "not ready; `checks` says which check failed"}},
)
def readyz(services: ServicesDep) -> Any:
    try:
        check_schema_current(services.engine)
    except SchemaOutdated:
        return _unavailable({"database": "ok", "schema": "outdated"})
    except DatabaseUnavailable:
        return _unavailable({"database": "unreachable"})
    return {"status": "ready", "checks": {"database": "ok", "schema": "current"}}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)


def _unavailable(checks: dict[str, str]) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)
