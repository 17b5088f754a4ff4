"""Registry domain types and rules (pure: no SQL, no HTTP).

Invariants:
- Ids are short operator-chosen codes (`[a-z0-9][a-z0-9._-]{0,63}`), safe to log.
- An agreement is in force from `effective_on` through `ends_on` inclusive; it never ends
  before it starts.
- CJIS status is computed for a given day from dated facts, never stored as a boolean
  (CJIS Security Policy 5.2: training is current for one year; 5.12: screening before access).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from gateway.registry.errors import InvalidRegistryInput
from policies.vocabulary import AgreementKind, OrgType, Role

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
CJIS_TRAINING_VALID_FOR = timedelta(days=365)  # CJIS Security Policy 5.2 (annual since v5.9.2)
_Choice = TypeVar("_Choice", OrgType, Role, AgreementKind)


def check_id(kind: str, value: str) -> str:
    """Return `value` if it is a well-formed registry id.

    Raises:
        InvalidRegistryInput: it is not.
    """
    if not ID_PATTERN.fullmatch(value):
        raise InvalidRegistryInput(
            f"{kind} id must be 1-64 characters of a-z, 0-9, '.', '_' or '-', not starting with . _ -"
        )
    return value


def parse_choice(enum: type[_Choice], kind: str, value: str) -> _Choice:
    """Parse one of a controlled vocabulary, listing the allowed values on failure.

    Raises:
        InvalidRegistryInput: the value is not in the vocabulary.
    """
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidRegistryInput(f"unknown {kind} {value!r}; expected one of: {allowed}") from None


def parse_day(kind: str, value: str) -> date:
    """Parse an ISO 8601 calendar date.

    Raises:
        InvalidRegistryInput: not YYYY-MM-DD.
    """
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRegistryInput(f"{kind} {value!r} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True)
class Agreement:
    kind: AgreementKind
    effective_on: date
    ends_on: date | None = None

    def __post_init__(self) -> None:
        if self.ends_on is not None and self.ends_on < self.effective_on:
            raise InvalidRegistryInput(
                f"{self.kind.value} agreement ends ({self.ends_on}) before it starts ({self.effective_on})"
            )

    def in_force_on(self, day: date) -> bool:
        return self.effective_on <= day and (self.ends_on is None or day <= self.ends_on)


def parse_agreement(text: str) -> Agreement:
    """Parse the CLI form `KIND:START[:END]`, e.g. `baa:2026-01-01:2027-12-31`.

    Raises:
        InvalidRegistryInput: malformed, unknown kind, bad date, or ends before it starts.
    """
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise InvalidRegistryInput(f"agreement {text!r} is not KIND:START[:END]")
    kind = parse_choice(AgreementKind, "agreement kind", parts[0])
    start = parse_day("agreement start", parts[1])
    end = parse_day("agreement end", parts[2]) if len(parts) == 3 and parts[2] else None
    return Agreement(kind=kind, effective_on=start, ends_on=end)


@dataclass(frozen=True)
class Organization:
    org_id: str
    name: str
    org_type: OrgType
    part2_program: bool = False
    cjis_agency: bool = False
    agreements: tuple[Agreement, ...] = ()

    def __post_init__(self) -> None:
        check_id("org", self.org_id)
        if not self.name.strip() or len(self.name) > 200:
            raise InvalidRegistryInput("org name must be 1-200 characters")

    def agreements_in_force(self, day: date) -> list[AgreementKind]:
        return sorted({a.kind for a in self.agreements if a.in_force_on(day)})


@dataclass(frozen=True)
class ApiClient:
    client_id: str
    org_id: str
    role: Role
    active: bool = True

    def __post_init__(self) -> None:
        check_id("client", self.client_id)
        check_id("org", self.org_id)


@dataclass(frozen=True)
class CjisStatus:
    """The three CJIS personnel checks as the decision input names them (DESIGN.md 7)."""

    security_addendum: bool
    training_current: bool
    background_check: bool


NO_CJIS = CjisStatus(security_addendum=False, training_current=False, background_check=False)


@dataclass(frozen=True)
class Personnel:
    """A person who acts through a client (the token's `sub`), with dated CJIS facts."""

    subject: str
    org_id: str
    addendum_signed_on: date | None = None
    training_completed_on: date | None = None
    background_check_on: date | None = None
    access_revoked_on: date | None = None  # CJIS 5.12.2: termination or transfer ends access

    def __post_init__(self) -> None:
        if not self.subject or len(self.subject) > 255:
            raise InvalidRegistryInput("personnel subject must be 1-255 characters")
        check_id("org", self.org_id)

    def cjis_status(self, day: date) -> CjisStatus:
        if self.access_revoked_on is not None and self.access_revoked_on <= day:
            return NO_CJIS
        return CjisStatus(
            security_addendum=self.addendum_signed_on is not None and self.addendum_signed_on <= day,
            training_current=self.training_completed_on is not None
            and self.training_completed_on <= day < self.training_completed_on + CJIS_TRAINING_VALID_FOR,
            background_check=self.background_check_on is not None and self.background_check_on <= day,
        )


@dataclass(frozen=True)
class Sender:
    """A client pushing records, with its org as registered (agreements included)."""

    client_id: str
    org: Organization
    role: Role
