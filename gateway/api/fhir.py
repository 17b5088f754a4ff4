"""FHIR R4 push: `POST /fhir/r4` (transaction or batch Bundle) and `POST /fhir/r4/{type}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from connectors.errors import UnsupportedMessage
from connectors.fhir.parse import load_json
from gateway.api.body import read_limited
from gateway.api.prefer import PreferHeader, return_preference, written
from gateway.deps import SenderDep, ServicesDep

router = APIRouter(prefix="/fhir/r4", tags=["FHIR R4"])
FHIR_JSON = "application/fhir+json"
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]

_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {
        "description": "OperationOutcome: malformed JSON, invalid resource, duplicate fullUrl, bad reference"
    },
    401: {"description": "problem details: missing or invalid token"},
    403: {"description": "OperationOutcome: the sender may not push (PUSH-INGEST)"},
    413: {"description": "OperationOutcome: body over CGW_MAX_MESSAGE_BYTES"},
    422: {"description": "OperationOutcome: the referenced Patient is unknown"},
}


@router.post("", summary="Push a transaction or batch Bundle", responses=_RESPONSES)
async def post_bundle(
    request: Request, sender: SenderDep, services: ServicesDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    document = load_json(
        await read_limited(request, services.settings.max_message_bytes),
        max_bytes=services.settings.max_message_bytes,
    )
    if document["resourceType"] != "Bundle":
        raise UnsupportedMessage(
            "POST a Bundle here, or a single resource to /fhir/r4/{type}",
            location="resourceType",
            code="not-supported",
        )
    result = await run_in_threadpool(services.ingest.fhir_bundle, sender, document, idempotency_key)
    return JSONResponse(result.body, status_code=result.status, media_type=FHIR_JSON)


@router.post("/{resource_type}", summary="Push one resource", status_code=201, responses=_RESPONSES)
async def post_resource(
    resource_type: str,
    request: Request,
    sender: SenderDep,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
    prefer: PreferHeader = None,
) -> Response:
    """201 with the created resource, or (Prefer: return=minimal) no body, or
    (return=OperationOutcome) an informational OperationOutcome; Location and ETag always."""
    document = load_json(
        await read_limited(request, services.settings.max_message_bytes),
        max_bytes=services.settings.max_message_bytes,
    )
    result = await run_in_threadpool(
        services.ingest.fhir_resource, sender, resource_type, document, idempotency_key
    )
    assert result.location is not None, "a created resource has a location"
    return written(
        result.body,
        status=result.status,
        location=f"{str(request.base_url).rstrip('/')}/fhir/r4/{result.location}",
        version="1",
        preference=return_preference(prefer),
        outcome_text=f"{'already created' if result.replayed else 'created'}: {result.location}",
    )
