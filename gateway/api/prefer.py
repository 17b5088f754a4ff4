"""What a FHIR create or update answers, as the client asked with `Prefer: return=…`.

FHIR R4 (http.html#ops) lets a client choose the body of a create or update: the resource
(`representation`, the default here), nothing (`minimal`: an EHR that only needs the id in
`Location` saves the echo of what it sent), or an `OperationOutcome`. RFC 7240: an unknown or
malformed preference is ignored, and the one honoured is named in `Preference-Applied`.
Location, ETag and Last-Modified go out whatever the body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse, Response

from gateway.errors import FHIR_JSON

PreferHeader = Annotated[str | None, Header(alias="Prefer")]


class ReturnPreference(StrEnum):
    MINIMAL = "minimal"
    REPRESENTATION = "representation"
    OPERATION_OUTCOME = "OperationOutcome"


_BY_LOWER = {preference.value.lower(): preference for preference in ReturnPreference}


def return_preference(header: str | None) -> ReturnPreference | None:
    """The `return` preference of a Prefer header; None when it names none we know.

    Preferences are comma-separated `token[=value]`, each with optional `;` parameters
    (RFC 7240 section 2); the token is case-insensitive, and so, leniently, is the value.
    """
    for preference in (header or "").split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        if name.strip().lower() == "return":
            return _BY_LOWER.get(value.strip().strip('"').lower())
    return None


def written(
    resource: dict[str, Any],
    *,
    status: int,
    location: str,
    version: str,
    preference: ReturnPreference | None,
    outcome_text: str,
) -> Response:
    """The answer to a create or update that wrote `resource` (version `version`) at `location`.

    `outcome_text` is the OperationOutcome's diagnostics: what happened, never the content.
    """
    headers = {"Location": location, "ETag": f'W/"{version}"'}
    last_updated = _last_modified(resource)
    if last_updated:
        headers["Last-Modified"] = last_updated
    if preference is not None:
        headers["Preference-Applied"] = f"return={preference.value}"
    if preference is ReturnPreference.MINIMAL:
        return Response(status_code=status, headers=headers)
    if preference is ReturnPreference.OPERATION_OUTCOME:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational", "diagnostics": outcome_text}],
        }
        return JSONResponse(outcome, status_code=status, media_type=FHIR_JSON, headers=headers)
    return JSONResponse(resource, status_code=status, media_type=FHIR_JSON, headers=headers)


def _last_modified(resource: dict[str, Any]) -> str | None:
    """meta.lastUpdated as an HTTP-date; None when the resource has none (or not a valid one)."""
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return format_datetime(when.astimezone(UTC), usegmt=True) if when.tzinfo else None
