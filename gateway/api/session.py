"""Who am I: lets a client check its token and see the identity the registry gives it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.deps import CallerDep

router = APIRouter(tags=["session"])


class CallerPublic(BaseModel):
    client_id: str
    subject: str
    org_id: str
    org_type: str
    role: str
    mfa: bool
    issuer: str


@router.get(
    "/whoami",
    summary="The authenticated caller as the gateway sees it",
    responses={401: {"description": "missing, invalid or expired token (problem details)"}},
)
def whoami(caller: CallerDep) -> CallerPublic:
    return CallerPublic(
        client_id=caller.client_id,
        subject=caller.subject,
        org_id=caller.org_id,
        org_type=caller.org_type.value,
        role=caller.role.value,
        mfa=caller.mfa,
        issuer=caller.issuer,
    )
