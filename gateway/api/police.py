"""Police RMS/CAD incident pushes: `POST /police/incidents`, and the format's JSON Schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from connectors.police.incident import incident_schema
from gateway.api.body import read_limited
from gateway.deps import CallerDep, RequesterDep, ServicesDep

router = APIRouter(prefix="/police", tags=["Police"])

_RESPONSES: dict[int | str, dict[str, str]] = {
    200: {"description": "already received (same agency and incident id): not stored again"},
    400: {"description": "problem details: not JSON, or invalid (each element path and error type listed)"},
    403: {"description": "problem details: not a CJA with an MOU in force, or denied (e.g. CJIS-MFA)"},
    413: {"description": "problem details: body over CGW_MAX_MESSAGE_BYTES"},
}


@router.post("/incidents", summary="Push an incident (stored as CJI)", status_code=201, responses=_RESPONSES)
async def push_incident(
    request: Request, caller: CallerDep, requester: RequesterDep, services: ServicesDep
) -> JSONResponse:
    body = await read_limited(request, services.settings.max_message_bytes)
    stored = await run_in_threadpool(services.incidents.push, requester, caller.subject, body)
    return JSONResponse(stored.body, status_code=stored.status)


@router.get("/incidents/schema", summary="JSON Schema of the incident format")
async def schema() -> dict[str, Any]:
    return incident_schema()
