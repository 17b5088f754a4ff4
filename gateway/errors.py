"""THE edge translator: domain errors → HTTP problem details (RFC 9457) and CLI exit codes.

Routes never build error bodies by hand. Bodies carry reason codes, ids and the request id;
never input values (pydantic's validation errors are stripped of `input`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from audit.errors import AuditUnavailable
from connectors.errors import ConnectorError, Issue, TooLarge
from consent_ledger import (
    ConsentError,
    ConsentFinal,
    ConsentIncomplete,
    ConsentInvalid,
    ConsentNotFound,
    StaleVersion,
    VersionMismatch,
)
from gateway.auth.errors import IssuerUnavailable, TokenRejected
from gateway.flows.consents import ConsentRefused, PatientUnknown
from gateway.flows.ingest import PushRefused
from gateway.flows.lookup import PatientNotFound
from gateway.flows.policy import PolicyDenied
from gateway.log_config import get_logger
from gateway.outcome import operation_outcome, outcome_for, single_issue
from gateway.registry.errors import DuplicateError, NotFoundError, RegistryError
from policies.errors import PolicyUnavailable

PROBLEM_MEDIA_TYPE = "application/problem+json"
FHIR_JSON = "application/fhir+json"
PROBLEM_BASE = "urn:consent-gateway:problem:"
REALM = "consent-gateway"

CLI_EXIT_BAD_INPUT = 2  # usage errors, registry rule violations, malformed settings

log = get_logger(__name__)


def problem(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def _token_rejected(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TokenRejected)
    services = getattr(request.app.state, "services", None)
    if services is not None:
        services.metrics.auth_failures.labels(reason=exc.reason).inc()
    log.info("token_rejected", reason=exc.reason)
    challenge = f'Bearer realm="{REALM}"'
    if exc.reason != "missing_token":  # RFC 6750 3.1: no error code when no credentials were sent
        challenge += f', error="invalid_token", error_description="{exc.detail}"'
    return problem(
        request,
        401,
        "invalid-token",
        "Unauthorized",
        exc.detail,
        {"WWW-Authenticate": challenge},
        reason=exc.reason,
    )


async def _issuer_unavailable(request: Request, _exc: Exception) -> JSONResponse:
    log.warning("issuer_unavailable")
    return problem(
        request,
        503,
        "issuer-unavailable",
        "Service Unavailable",
        "the token issuer's keys cannot be fetched",
    )


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    status = 409 if isinstance(exc, DuplicateError) else 404 if isinstance(exc, NotFoundError) else 422
    return problem(request, status, "registry", "Registry rule violated", str(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [
        {"loc": [str(part) for part in error.get("loc", ())], "type": error.get("type", "invalid")}
        for error in exc.errors()
    ]
    return problem(
        request,
        422,
        "invalid-request",
        "Invalid request",
        "the request is not valid",
        issues=issues,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "Error")
    detail = exc.detail or title
    return problem(request, exc.status_code, "http", title, detail, dict(exc.headers or {}))


def _connector_status(exc: ConnectorError) -> int:
    if isinstance(exc, TooLarge):
        return 413
    issues = getattr(exc, "issues", None) or []
    if issues and all(issue.code == "not-found" for issue in issues):
        return 422  # valid, but names a Patient the gateway does not know
    return 400


async def _connector_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConnectorError)
    status = _connector_status(exc)
    log.info("input_rejected", status=status, reason=exc.code)
    if request.url.path.startswith("/fhir/"):
        return JSONResponse(outcome_for(exc), status_code=status, media_type=FHIR_JSON)
    issues = [
        {"location": issue.location, "code": issue.code, "reason": issue.reason}
        for issue in getattr(exc, "issues", None) or []
    ]
    if issues:
        return problem(request, status, "invalid-input", "Invalid input", str(exc), issues=issues)
    return problem(request, status, "invalid-input", "Invalid input", str(exc))


async def _push_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PushRefused)
    log.info("push_refused", reason=exc.code)
    if request.url.path.startswith("/fhir/"):
        return JSONResponse(
            single_issue("forbidden", f"{exc.code}: {exc.reason}"), status_code=403, media_type=FHIR_JSON
        )
    return problem(request, 403, "forbidden", "Forbidden", exc.reason, reason=exc.code)


def consent_status(exc: ConsentError) -> int:
    """The HTTP status of a consent ledger error (also used for the CLI's messages)."""
    if isinstance(exc, ConsentIncomplete | PatientUnknown):
        return 422
    if isinstance(exc, ConsentInvalid):
        return 400
    if isinstance(exc, ConsentNotFound):
        return 404
    if isinstance(exc, VersionMismatch):
        return 412
    if isinstance(exc, ConsentFinal | StaleVersion):
        return 409
    return 500


async def _consent_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConsentError)
    status = consent_status(exc)
    log.info("consent_rejected", status=status, error_type=type(exc).__name__)
    if isinstance(exc, ConsentInvalid):
        body = operation_outcome([Issue("error", p.code, p.location, p.reason) for p in exc.problems])
    else:
        code = {404: "not-found", 409: "conflict", 412: "conflict"}.get(status, "exception")
        body = single_issue(code, str(exc))
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


async def _consent_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConsentRefused)
    log.info("consent_refused", reason=exc.code)
    return JSONResponse(
        single_issue("forbidden", f"{exc.code}: {exc.reason}"), status_code=403, media_type=FHIR_JSON
    )


async def _policy_denied(request: Request, exc: Exception) -> JSONResponse:
    """403 naming the deciding rules (codes, citations and sentences are safe); never data."""
    assert isinstance(exc, PolicyDenied)
    log.info("request_denied", reason=exc.code)
    if request.url.path.startswith("/fhir/"):
        issues = [
            Issue("error", "forbidden", "", f"{r.code} ({r.citation}): {r.text}")
            for r in exc.decision.reasons
        ]
        issues += [
            Issue("error", "forbidden", "", f"cannot fulfil obligation {name}")
            for name in exc.decision.unfulfilled
        ]
        return JSONResponse(operation_outcome(issues), status_code=403, media_type=FHIR_JSON)
    return problem(request, 403, "forbidden", "Forbidden", exc.summary, reason=exc.code)


async def _patient_not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(single_issue("not-found", str(exc)), status_code=404, media_type=FHIR_JSON)


def _retry_later(request: Request, code: str, title: str, detail: str) -> JSONResponse:
    """503 with Retry-After: nothing was stored or released, and a retry will likely succeed."""
    headers = {"Retry-After": "1"}
    if request.url.path.startswith("/fhir/"):
        return JSONResponse(
            single_issue("transient", detail), status_code=503, media_type=FHIR_JSON, headers=headers
        )
    return problem(request, 503, code, title, detail, headers)


async def _policy_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """No decision, no access: fail closed."""
    log.error("policy_unavailable")
    return _retry_later(
        request,
        "policy-unavailable",
        "Policy engine unavailable",
        "no policy decision could be made; nothing was stored; retry",
    )


async def _audit_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """No audit record, no disclosure: fail closed (DESIGN.md 10)."""
    log.error("audit_unavailable")
    return _retry_later(
        request,
        "audit-unavailable",
        "Audit log unavailable",
        "the request could not be recorded in the audit log; nothing was disclosed; retry",
    )


async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
    """A lock wait or a lost connection."""
    log.warning("database_busy", error_type=type(exc).__name__)
    return _retry_later(
        request, "busy", "Service Unavailable", "the database is busy; nothing was stored; retry"
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", error_type=type(exc).__name__)
    return problem(
        request,
        500,
        "internal",
        "Internal Server Error",
        "the gateway failed; see its log by request_id",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TokenRejected, _token_rejected)
    app.add_exception_handler(IssuerUnavailable, _issuer_unavailable)
    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(ConnectorError, _connector_error)
    app.add_exception_handler(PushRefused, _push_refused)
    app.add_exception_handler(ConsentError, _consent_error)
    app.add_exception_handler(ConsentRefused, _consent_refused)
    app.add_exception_handler(PolicyDenied, _policy_denied)
    app.add_exception_handler(PatientNotFound, _patient_not_found)
    app.add_exception_handler(OperationalError, _database_busy)
    app.add_exception_handler(PolicyUnavailable, _policy_unavailable)
    app.add_exception_handler(AuditUnavailable, _audit_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
