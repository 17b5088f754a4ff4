"""Who is calling: a verified token joined with the org registry.

The token proves only which client (and person) is calling; the organisation, its type and
the role come from the registry, so a client cannot claim attributes it was not given.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth.errors import TokenRejected
from gateway.auth.tokens import VerifiedToken
from gateway.flows.registry import RegistryService, RegistryView
from policies.vocabulary import OrgType, Role


@dataclass(frozen=True)
class Caller:
    client_id: str
    subject: str
    org_id: str
    org_type: OrgType
    role: Role
    mfa: bool
    issuer: str
    token_id: str | None


def resolve_caller(token: VerifiedToken, registry: RegistryService | RegistryView) -> Caller:
    """Join a verified token with its registered client and org.

    Raises:
        TokenRejected: the client is unknown or disabled, or its org is gone.
    """
    client = registry.get_client(token.client_id)
    if client is None:
        raise TokenRejected("unknown_client", "token names a client that is not registered")
    if not client.active:
        raise TokenRejected("client_disabled", "token names a client that is disabled")
    org = registry.get_org(client.org_id)
    if org is None:  # pragma: no cover - foreign keys prevent it; kept as a fail-closed check
        raise TokenRejected("unknown_client", "token names a client whose org is not registered")
    return Caller(
        client_id=client.client_id,
        subject=token.subject,
        org_id=org.org_id,
        org_type=org.org_type,
        role=client.role,
        mfa=token.mfa,
        issuer=token.issuer,
        token_id=token.token_id,
    )
