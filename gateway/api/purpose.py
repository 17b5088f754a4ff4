"""The purpose of use a request states in `X-Purpose-Of-Use` (an HL7 v3 PurposeOfUse code)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from connectors.errors import MalformedMessage
from policies.vocabulary import PurposeOfUse

PurposeHeader = Annotated[
    str, Header(alias="X-Purpose-Of-Use", max_length=16, description="HL7 v3 PurposeOfUse code")
]


def parse_purpose(value: str) -> PurposeOfUse:
    """Raises: MalformedMessage naming the header (never its value) for an unknown code."""
    if value not in PurposeOfUse.__members__.values():
        raise MalformedMessage(
            "not an HL7 v3 PurposeOfUse code", code="code-invalid", location="X-Purpose-Of-Use"
        )
    return PurposeOfUse(value)
