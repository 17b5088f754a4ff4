"""Operator endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from gateway.deps import ServicesDep
from gateway.flows.health import is_ready, readiness
from gateway.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers, its schema is current, the audit log accepts records",
    responses={503: {"description": "not ready; `checks` says which check failed"}},
)
def readyz(services: ServicesDep) -> Any:
    checks = readiness(services.engine, services.policy.audit, services.witnesses.status())
    if not is_ready(checks):
        return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)
    return {"status": "ready", "checks": checks}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)
