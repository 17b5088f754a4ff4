"""Errors of the consent ledger. Messages name elements and rules, never a person's data.

ConsentError
├── ConsentInvalid(problems)        the text is not an acceptable consent (not R4, bad period,
│   └── ConsentIncomplete(missing)  unknown code, ...); or an active consent lacks elements
├── ConsentNotFound                 no consent (or version) with that id
├── ConsentFinal                    revoked or expired: no further change (re-consent instead)
├── StaleVersion                    another change was recorded first; retry on the new version
└── ChainBroken(consent_id, version) a stored version is missing or was altered
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem with a consent: an element path, a FHIR issue code and a reason without values."""

    location: str
    code: str  # FHIR issue-type: invalid | required | code-invalid | not-supported | not-found | ...
    reason: str


class ConsentError(Exception):
    """Root of the consent ledger's errors."""


class ConsentInvalid(ConsentError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.location}: {p.reason}" for p in problems))
        self.problems = problems


class ConsentIncomplete(ConsentInvalid):
    """An active consent lacks required elements; `missing` names them (e.g. `2.31(a)(8) signature`)."""

    def __init__(self, problems: list[Problem], missing: list[str]) -> None:
        super().__init__(problems)
        self.missing = missing


class ConsentNotFound(ConsentError):
    pass


class ConsentFinal(ConsentError):
    pass


class StaleVersion(ConsentError):
    pass


class VersionMismatch(StaleVersion):
    pass


class ChainBroken(ConsentError):
    def __init__(self, consent_id: str, version: int, reason: str) -> None:
        super().__init__(f"consent {consent_id} version {version}: {reason}")
        self.consent_id = consent_id
        self.version = version
        self.reason = reason
