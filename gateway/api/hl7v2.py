"""HL7 v2 over HTTP: `POST /hl7v2` with an ER7 body; the response body is always an ACK."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from connectors.errors import TooLarge
from connectors.hl7v2.ack import REJECT, build_ack
from connectors.hl7v2.security import blank_msh8
from gateway.api.body import read_limited
from gateway.deps import SenderDep, ServicesDep
from gateway.flows.ingest import Hl7Item

router = APIRouter(tags=["HL7 v2"])
ER7 = "x-application/hl7-v2+er7"
_STATUS = {b"AA": 200, b"AE": 422, b"AR": 400}


@router.post(
    "/hl7v2",
    summary="Push one HL7 v2 message (or an FHS/BHS batch); answered with its ACK",
    responses={
        200: {"description": "ACK with MSA-1 AA", "content": {ER7: {}}},
        400: {"description": "ACK with MSA-1 AR (rejected: type, version, size, sender)"},
        422: {"description": "ACK with MSA-1 AE (error in the message, ERR names segment and field)"},
    },
)
async def post_hl7v2(request: Request, sender: SenderDep, services: ServicesDep) -> Response:
    try:
        body = await read_limited(request, services.settings.max_message_bytes)
    except TooLarge as error:
        return Response(build_ack(None, REJECT, error), status_code=413, media_type=ER7)
    ack = await services.committer.submit(Hl7Item(sender=sender, data=body, payload=blank_msh8(body)))
    return Response(ack, status_code=_STATUS.get(_msa_code(ack), 200), media_type=ER7)


def _msa_code(ack: bytes) -> bytes:
    for segment in ack.split(b"\r"):
        if segment.startswith(b"MSA"):
            return segment[4:6]
    return b""
