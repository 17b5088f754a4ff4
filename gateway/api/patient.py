"""FHIR R4 Patient `$summary`: a co-responder clinician's view of a person, decided and redacted.

`GET /fhir/r4/Patient/{id}/$summary` (the gateway's person id, or the caller's own Patient id)
or `GET /fhir/r4/Patient/$summary?identifier=system|value`. The purpose of use comes from
`X-Purpose-Of-Use` (default TREAT); `X-Break-Glass: <the emergency>` asks for emergency access.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from connectors.errors import MalformedMessage
from gateway.api.purpose import PurposeHeader, parse_purpose
from gateway.deps import CallerDep, RequesterDep, ServicesDep
from gateway.flows.lookup import LookupRequest
from policies.vocabulary import PurposeOfUse

router = APIRouter(prefix="/fhir/r4/Patient", tags=["FHIR R4 Patient"])
FHIR_JSON = "application/fhir+json"

BreakGlassHeader = Annotated[
    str | None,
    Header(alias="X-Break-Glass", min_length=1, max_length=500, description="the emergency, in a sentence"),
]
IdentifierParam = Annotated[str | None, Query(description="system|value")]

_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "OperationOutcome: an unknown purpose of use, or no patient named"},
    403: {"description": "OperationOutcome: denied, with the deciding rule codes (no data)"},
    404: {"description": "OperationOutcome: no such patient"},
    503: {"description": "OperationOutcome: no decision could be made or recorded; nothing disclosed"},
}


@router.get("/$summary", summary="A co-responder summary, by identifier", responses=_RESPONSES)
async def summary_by_identifier(
    request: Request,
    caller: CallerDep,
    requester: RequesterDep,
    services: ServicesDep,
    identifier: IdentifierParam = None,
    purpose: PurposeHeader = PurposeOfUse.TREAT.value,
    break_glass: BreakGlassHeader = None,
) -> JSONResponse:
    if not identifier or "|" not in identifier or not identifier.split("|", 1)[1]:
        raise MalformedMessage("search by identifier=system|value", code="required", location="identifier")
    system, value = identifier.split("|", 1)
    return await _summary(
        request, caller, requester, services, purpose, break_glass, identifier=(system or None, value)
    )


@router.get("/{patient_id}/$summary", summary="A co-responder summary of a person", responses=_RESPONSES)
async def summary(
    request: Request,
    caller: CallerDep,
    requester: RequesterDep,
    services: ServicesDep,
    patient_id: str,
    purpose: PurposeHeader = PurposeOfUse.TREAT.value,
    break_glass: BreakGlassHeader = None,
) -> JSONResponse:
    return await _summary(request, caller, requester, services, purpose, break_glass, patient=patient_id)


async def _summary(
    request: Request,
    caller: CallerDep,
    requester: RequesterDep,
    services: ServicesDep,
    purpose: str,
    break_glass: str | None,
    *,
    patient: str | None = None,
    identifier: tuple[str | None, str] | None = None,
) -> JSONResponse:
    lookup = LookupRequest(
        requester=requester,
        subject=caller.subject,
        patient=patient,
        identifier=identifier,
        purpose=parse_purpose(purpose),
        break_glass=break_glass,
        request_id=getattr(request.state, "request_id", None),
    )
    base_url = f"{str(request.base_url).rstrip('/')}/fhir/r4"
    disclosed = await run_in_threadpool(services.lookup.summary, lookup, base_url=base_url)
    return JSONResponse(disclosed.bundle, media_type=FHIR_JSON)
