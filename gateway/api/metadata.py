"""Discovery: the FHIR CapabilityStatement and the embedded issuer's public keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from connectors.fhir.parse import INGESTED_TYPES
from gateway import __version__
from gateway.auth.tokens import embedded_jwks
from gateway.deps import ServicesDep

router = APIRouter(tags=["discovery"])

FHIR_JSON = "application/fhir+json"

# FHIR resource types this gateway serves, with their interactions. Each capability issue
# adds its rows here, so /metadata always lists exactly what is implemented.
CONSENT_RESOURCE: dict[str, Any] = {
    "type": "Consent",
    "versioning": "versioned",
    "readHistory": True,
    "updateCreate": False,
    "interaction": [
        {"code": code} for code in ("create", "read", "vread", "update", "history-instance", "search-type")
    ],
    "searchParam": [{"name": "patient", "type": "reference"}],
    "operation": [
        {"name": "revoke", "definition": "urn:consent-gateway:OperationDefinition:Consent-revoke"},
        {"name": "expire", "definition": "urn:consent-gateway:OperationDefinition:Consent-expire"},
    ],
}
FLAG_RESOURCE: dict[str, Any] = {
    "type": "Flag",
    "interaction": [{"code": "create"}, {"code": "search-type"}],
    "searchParam": [
        {"name": "subject:identifier", "type": "token"},
        {"name": "family", "type": "string"},
        {"name": "given", "type": "string"},
        {"name": "birthdate", "type": "date"},
    ],
}
SPECIAL_RESOURCES = {"Consent": CONSENT_RESOURCE, "Flag": FLAG_RESOURCE}
IMPLEMENTED_RESOURCES: tuple[dict[str, Any], ...] = tuple(
    SPECIAL_RESOURCES.get(name, {"type": name, "interaction": [{"code": "create"}]})
    for name in INGESTED_TYPES
)
SYSTEM_INTERACTIONS = ({"code": "transaction"}, {"code": "batch"})


def capability_statement(base_url: str) -> dict[str, Any]:
    """A CapabilityStatement (kind=instance) validated against the R4 model before serving."""
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "publisher": "Consent Gateway",
        "kind": "instance",
        "software": {"name": "Consent Gateway", "version": __version__},
        "implementation": {"description": "Consent Gateway", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                }
                            ]
                        }
                    ],
                    "description": "OAuth 2.0 bearer JWTs (embedded Ed25519 issuer or the OIDC issuer).",
                },
                "resource": list(IMPLEMENTED_RESOURCES),
                "interaction": list(SYSTEM_INTERACTIONS),
            }
        ],
    }
    CapabilityStatement.model_validate(statement)
    return statement


@router.get("/metadata", summary="FHIR CapabilityStatement", response_class=JSONResponse)
def metadata(request: Request) -> JSONResponse:
    return JSONResponse(capability_statement(str(request.base_url).rstrip("/")), media_type=FHIR_JSON)


@router.get("/.well-known/jwks.json", summary="Public keys of the embedded token issuer (JWK Set)")
def jwks(services: ServicesDep) -> dict[str, Any]:
    return embedded_jwks(services.keyring)
