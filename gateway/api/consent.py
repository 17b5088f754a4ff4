"""FHIR R4 Consent: record, update, revoke, expire, read, search and history.

Registered before the generic `POST /fhir/r4/{type}` route, so a Consent reaches the ledger.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from connectors.errors import MalformedMessage
from connectors.fhir.parse import load_json
from consent_ledger import Change, ConsentInvalid, Problem
from gateway.api.body import read_limited
from gateway.api.prefer import PreferHeader, return_preference, written
from gateway.deps import SenderDep, ServicesDep
from gateway.fhir_json import with_entries
from gateway.flows.consents import StoredConsent

router = APIRouter(prefix="/fhir/r4/Consent", tags=["FHIR R4 Consent"])
FHIR_JSON = "application/fhir+json"
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=32)]
_ETAG = re.compile(r'^(?:W/)?"?(\d+)"?$')

_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "OperationOutcome: not valid R4, a bad code, period or recipient"},
    403: {"description": "OperationOutcome: the client may not manage consents (CONSENT-MANAGE)"},
    404: {"description": "OperationOutcome: no such consent or version"},
    409: {"description": "OperationOutcome: revoked or expired, or changed concurrently"},
    412: {"description": "OperationOutcome: If-Match names a version that is not current"},
    422: {"description": "OperationOutcome: required elements missing (named), or unknown patient"},
}


@router.post("", summary="Record a consent", status_code=201, responses=_RESPONSES)
async def record(
    request: Request,
    sender: SenderDep,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
    prefer: PreferHeader = None,
) -> Response:
    document = await _body(request, services)
    stored = await run_in_threadpool(services.consents.record, sender, document, idempotency_key)
    return _written(
        request,
        stored,
        200 if stored.replayed else 201,
        prefer,
        "already recorded" if stored.replayed else "recorded",
    )


PatientParam = Annotated[str | None, Query(description="Patient/{id} or {id}")]
PatientIdentifierParam = Annotated[str | None, Query(alias="patient:identifier", description="system|value")]


@router.get("", summary="A person's consents (current versions)", responses=_RESPONSES)
async def search(
    request: Request,
    sender: SenderDep,
    services: ServicesDep,
    patient: PatientParam = None,
    patient_identifier: PatientIdentifierParam = None,
) -> JSONResponse:
    return await _search(request, sender, services, _patient(patient, patient_identifier), all_versions=False)


@router.get("/_history", summary="Every version of a person's consents", responses=_RESPONSES)
async def patient_history(
    request: Request,
    sender: SenderDep,
    services: ServicesDep,
    patient: PatientParam = None,
    patient_identifier: PatientIdentifierParam = None,
) -> JSONResponse:
    return await _search(request, sender, services, _patient(patient, patient_identifier), all_versions=True)


async def _search(
    request: Request, sender: SenderDep, services: ServicesDep, patient: dict[str, Any], *, all_versions: bool
) -> JSONResponse:
    found = await run_in_threadpool(services.consents.search, sender, patient, all_versions=all_versions)
    return _bundle(request, "history" if all_versions else "searchset", found)


@router.get("/{consent_id}", summary="The current version of a consent", responses=_RESPONSES)
async def read(request: Request, consent_id: str, sender: SenderDep, services: ServicesDep) -> JSONResponse:
    return _resource(request, await run_in_threadpool(services.consents.read, sender, consent_id))


@router.get("/{consent_id}/_history", summary="Every version of a consent", responses=_RESPONSES)
async def history(
    request: Request, consent_id: str, sender: SenderDep, services: ServicesDep
) -> JSONResponse:
    return _bundle(request, "history", await run_in_threadpool(services.consents.history, sender, consent_id))


@router.get("/{consent_id}/_history/{version}", summary="One version of a consent", responses=_RESPONSES)
async def vread(
    request: Request, consent_id: str, version: int, sender: SenderDep, services: ServicesDep
) -> JSONResponse:
    return _resource(request, await run_in_threadpool(services.consents.read, sender, consent_id, version))


@router.put("/{consent_id}", summary="A new version of a consent's text", responses=_RESPONSES)
async def update(
    request: Request,
    consent_id: str,
    sender: SenderDep,
    services: ServicesDep,
    if_match: IfMatch = None,
    prefer: PreferHeader = None,
) -> Response:
    document = await _body(request, services)
    stored = await run_in_threadpool(
        services.consents.update, sender, consent_id, document, _version_of(if_match)
    )
    return _written(request, stored, 200, prefer, "updated")


@router.post("/{consent_id}/$revoke", summary="Revoke a consent (a new, final version)", responses=_RESPONSES)
async def revoke(
    request: Request, consent_id: str, sender: SenderDep, services: ServicesDep, if_match: IfMatch = None
) -> JSONResponse:
    return await _end(request, consent_id, sender, services, Change.REVOKE, "patient-request", if_match)


@router.post(
    "/{consent_id}/$expire", summary="Record that a consent's expiry event happened", responses=_RESPONSES
)
async def expire(
    request: Request, consent_id: str, sender: SenderDep, services: ServicesDep, if_match: IfMatch = None
) -> JSONResponse:
    return await _end(request, consent_id, sender, services, Change.EXPIRE, "expiry-event", if_match)


async def _end(
    request: Request,
    consent_id: str,
    sender: SenderDep,
    services: ServicesDep,
    change: Change,
    default_reason: str,
    if_match: str | None,
) -> JSONResponse:
    parameters = _parameters(await read_limited(request, services.settings.max_message_bytes), services)
    reason = str(parameters.get("reason", default_reason))
    effective = _effective(parameters.get("effective"))
    stored = await run_in_threadpool(
        lambda: services.consents.end(
            sender,
            consent_id,
            change=change,
            reason=reason,
            effective_at=effective,
            if_match=_version_of(if_match),
        )
    )
    return _resource(request, stored)


async def _body(request: Request, services: ServicesDep) -> dict[str, Any]:
    max_bytes = services.settings.max_message_bytes
    return load_json(await read_limited(request, max_bytes), max_bytes=max_bytes)


def _parameters(body: bytes, services: ServicesDep) -> dict[str, Any]:
    """A FHIR Parameters body's `reason` (valueCode) and `effective` (valueDateTime); {} when empty."""
    if not body.strip():
        return {}
    document = load_json(body, max_bytes=services.settings.max_message_bytes)
    if document.get("resourceType") != "Parameters":
        raise MalformedMessage("send a Parameters resource", location="resourceType", code="invalid")
    values: dict[str, Any] = {}
    for parameter in document.get("parameter") or []:
        if isinstance(parameter, dict) and parameter.get("name") == "reason":
            values["reason"] = parameter.get("valueCode")
        elif isinstance(parameter, dict) and parameter.get("name") == "effective":
            values["effective"] = parameter.get("valueDateTime") or parameter.get("valueInstant")
    return values


def _effective(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ConsentInvalid(
            [Problem("Parameters.parameter.effective", "invalid", "effective must be an RFC 3339 instant")]
        ) from None
    if parsed.tzinfo is None:
        raise ConsentInvalid(
            [Problem("Parameters.parameter.effective", "invalid", "effective needs a time zone")]
        )
    return parsed


def _version_of(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    match = _ETAG.match(if_match.strip())
    if not match:
        raise ConsentInvalid([Problem("If-Match", "invalid", 'If-Match is W/"<versionId>"')])
    return int(match[1])


def _patient(reference: str | None, identifier: str | None) -> dict[str, Any]:
    if reference:
        return {"reference": reference if reference.startswith("Patient/") else f"Patient/{reference}"}
    if identifier and "|" in identifier:
        system, value = identifier.split("|", 1)
        return {"identifier": {"system": system or None, "value": value}}
    raise ConsentInvalid(
        [Problem("patient", "required", "search by patient=Patient/{id} or patient:identifier=system|value")]
    )


def _resource(request: Request, stored: StoredConsent, status: int = 200) -> JSONResponse:
    headers = {"ETag": f'W/"{stored.version.version}"', "Location": _location(request, stored)}
    return JSONResponse(stored.resource, status_code=status, media_type=FHIR_JSON, headers=headers)


def _written(request: Request, stored: StoredConsent, status: int, prefer: str | None, what: str) -> Response:
    """A recorded or updated consent, answered as `Prefer: return=…` asks (gateway/api/prefer.py)."""
    version = stored.version
    return written(
        stored.resource,
        status=status,
        location=_location(request, stored),
        version=str(version.version),
        preference=return_preference(prefer),
        outcome_text=f"{what}: Consent/{version.consent_id}/_history/{version.version}",
    )


def _location(request: Request, stored: StoredConsent) -> str:
    base = f"{str(request.base_url).rstrip('/')}/fhir/r4/Consent/{stored.version.consent_id}"
    return f"{base}/_history/{stored.version.version}"


def _bundle(request: Request, bundle_type: str, found: list[StoredConsent]) -> JSONResponse:
    base = f"{str(request.base_url).rstrip('/')}/fhir/r4/Consent"
    body = with_entries(
        {"resourceType": "Bundle", "type": bundle_type, "total": len(found)},
        [
            {
                "fullUrl": f"{base}/{s.version.consent_id}",
                "resource": s.resource,
                **({"search": {"mode": "match"}} if bundle_type == "searchset" else {}),
            }
            for s in found
        ],
    )
    return JSONResponse(body, media_type=FHIR_JSON)
