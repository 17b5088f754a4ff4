"""FHIR R4 Flag search: what a police RMS/CAD (or EMS, or a clinician) may know before a call.

`GET /fhir/r4/Flag?subject:identifier=SYSTEM|VALUE` or `?family=&given=&birthdate=` answers a
`searchset` Bundle of Flags from the closed vocabulary (DESIGN.md 6). A denial, an unknown
person and a person with nothing on file all get the same empty Bundle; demographics naming
several people get an OperationOutcome `multiple-matches` in the Bundle and no flags. The
purpose of use comes from `X-Purpose-Of-Use` (default COC, the co-responder program's purpose).
Search values never reach a log: the access log records the route, not the query string.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from connectors.envelope import Demographics
from connectors.errors import MalformedMessage
from gateway.api.purpose import PurposeHeader, parse_purpose
from gateway.deps import RequesterDep, ServicesDep
from gateway.flows.flags import FlagQuery
from policies.vocabulary import PurposeOfUse

router = APIRouter(prefix="/fhir/r4/Flag", tags=["FHIR R4 Flag"])
FHIR_JSON = "application/fhir+json"
URI_SCHEMES = ("urn:", "http://", "https://")

SearchText = Annotated[str | None, Query(max_length=200)]

_RESPONSES: dict[int | str, dict[str, str]] = {
    200: {"description": "searchset Bundle of Flags; empty when there is nothing the caller may see"},
    400: {"description": "OperationOutcome: no criteria, partial demographics, or a malformed value"},
    401: {"description": "problem details: missing or invalid token"},
    503: {"description": "OperationOutcome: no decision could be made or recorded; nothing disclosed"},
}


@router.get("", summary="Pull the permitted flags for a person", responses=_RESPONSES)
async def search_flags(
    request: Request,
    requester: RequesterDep,
    services: ServicesDep,
    subject_identifier: Annotated[
        str | None, Query(alias="subject:identifier", max_length=400, description="system|value")
    ] = None,
    family: SearchText = None,
    given: SearchText = None,
    birthdate: Annotated[str | None, Query(max_length=12, description="YYYY-MM-DD")] = None,
    purpose: PurposeHeader = PurposeOfUse.COC.value,
) -> JSONResponse:
    query = FlagQuery(
        requester=requester,
        identifier=_identifier(subject_identifier) if subject_identifier is not None else None,
        demographics=_demographics(family, given, birthdate),
        purpose=parse_purpose(purpose),
    )
    if query.identifier is not None and query.demographics is not None:
        raise MalformedMessage(
            "search by subject:identifier or by demographics, not both", code="invalid", location="Flag"
        )
    if query.identifier is None and query.demographics is None:
        raise MalformedMessage(
            "search by subject:identifier=system|value, or by family, given and birthdate",
            code="required",
            location="Flag",
        )
    base_url = f"{str(request.base_url).rstrip('/')}/fhir/r4"
    answer = await run_in_threadpool(services.flags.pull, query, base_url=base_url)
    return JSONResponse(answer.bundle, media_type=FHIR_JSON)


def _identifier(text: str) -> tuple[str, str]:
    """`system|value`, the system an absolute URI (an identifier is only unique within one)."""
    system, bar, value = text.partition("|")
    if not bar or not value.strip():
        raise MalformedMessage(
            "subject:identifier must be system|value", code="value", location="subject:identifier"
        )
    if not system.startswith(URI_SCHEMES):
        raise MalformedMessage(
            "the identifier system must be a URI (urn:, http:// or https://)",
            code="value",
            location="subject:identifier",
        )
    return system, value


def _demographics(family: str | None, given: str | None, birthdate: str | None) -> Demographics | None:
    """All three or none: a partial name is too likely to match the wrong person."""
    if not (family or given or birthdate):
        return None
    if not (family and given and birthdate):
        raise MalformedMessage(
            "search by family, given and birthdate together", code="required", location="Flag"
        )
    text = birthdate.removeprefix("eq")
    try:
        born = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        born = None
    if born is None:
        raise MalformedMessage("birthdate must be YYYY-MM-DD", code="value", location="birthdate")
    return Demographics(family=family, given=given, birth_date=born)
