"""Connector errors: who is at fault and where, never what the data said.

    ConnectorError
    ├── MalformedMessage     the input breaks its format (HL7 AE / FHIR 400 OperationOutcome)
    ├── UnsupportedMessage   well-formed but not something we accept (HL7 AR / FHIR not-supported)
    └── TooLarge             over the configured size limit (HL7 AR / HTTP 413)

Each error carries `code` (an HL7 table 0357 code or a FHIR issue-type code), `location`
(e.g. "PID-3", "Bundle.entry[2].resource.birthDate") and a fixed `reason` phrase. Messages
are built only from these, so no value from the input can reach an exception, a NAK or a log.
"""

from __future__ import annotations

from dataclasses import dataclass


class ConnectorError(Exception):
    """Base of connector errors."""

    def __init__(self, reason: str, *, location: str | None = None, code: str | None = None) -> None:
        super().__init__(f"{location}: {reason}" if location else reason)
        self.reason = reason
        self.location = location
        self.code = code


class MalformedMessage(ConnectorError):
    """The input breaks its format."""


class UnsupportedMessage(ConnectorError):
    """Well-formed, but a type, version or interaction this gateway does not accept."""


class TooLarge(ConnectorError):
    """Over the configured size limit."""


@dataclass(frozen=True)
class Issue:
    """One problem found in a multi-part input (a Bundle entry, a batch message)."""

    severity: str  # error | warning
    code: str  # FHIR issue-type code
    location: str
    reason: str


class IssuesFound(MalformedMessage):
    """Validation found one or more issues; all are listed."""

    def __init__(self, issues: list[Issue]) -> None:
        first = issues[0]
        super().__init__(first.reason, location=first.location, code=first.code)
        self.issues = issues
