"""FastAPI dependencies as `Annotated` aliases: the only way routes reach services and callers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.auth.caller import Caller, resolve_caller
from gateway.auth.errors import TokenRejected
from gateway.flows.policy import Requester
from gateway.flows.registry import RegistryView
from gateway.registry.domain import Sender
from gateway.services import Services

_bearer = HTTPBearer(
    auto_error=False, description="A bearer JWT from the embedded issuer or the OIDC issuer."
)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_registry(services: ServicesDep) -> RegistryView:
    """The registry as committed when the request began: one version query per request, the
    reads after it from memory (FastAPI resolves a dependency once per request)."""
    return services.registry.current()


RegistryDep = Annotated[RegistryView, Depends(get_registry)]


def get_caller(
    services: ServicesDep,
    registry: RegistryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The authenticated caller.

    Raises:
        TokenRejected: no token, or one that fails verification or names no registered client.
    """
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise TokenRejected("missing_token", "a bearer token is required")
    token = services.verifier.verify(credentials.credentials)
    return resolve_caller(token, registry)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_sender(registry: RegistryDep, caller: CallerDep) -> Sender:
    """The authenticated caller as a record sender, with its org's registry entry."""
    org = registry.get_org(caller.org_id)
    if org is None:  # pragma: no cover - a caller's org exists (foreign key); fail closed anyway
        raise TokenRejected("unknown_client", "token names a client whose org is not registered")
    return Sender(client_id=caller.client_id, org=org, role=caller.role)


SenderDep = Annotated[Sender, Depends(get_sender)]


def get_requester(registry: RegistryDep, caller: CallerDep, sender: SenderDep) -> Requester:
    """The caller as the policy engine sees them: org and role, MFA from the token, and the CJIS
    personnel status on file today for the person acting (the token's subject) at their org."""
    today = datetime.now(UTC).date()
    return Requester(
        sender,
        mfa=caller.mfa,
        cjis=registry.cjis_status(caller.subject, caller.org_id, today),
        user=caller.subject,
    )


RequesterDep = Annotated[Requester, Depends(get_requester)]
