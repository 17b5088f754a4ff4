"""Suspensions of a person's accounting of disclosures (45 CFR 164.528(a)(2)).

A law-enforcement official or health-oversight agency may state that an accounting of the
disclosures made to it would impede its activities. For the period it names, the accounting the
person receives leaves those disclosures out; the audit log keeps every one of them, and the
suspension itself is an entry of the log (`accounting.suspension`, reference/audit-log.md 2.7),
so an auditor can check that every omission is backed by a recorded statement.

- A written statement names the period (164.528(a)(2)(i)).
- An oral statement is documented with the official's identity and lasts at most 30 days from
  the statement unless a written one follows (164.528(a)(2)(ii)).
- The agency is a registered organisation of type `police` (164.512(f)) or `compliance` (a
  health-oversight agency, 164.512(d)); the statement is referenced by an id, never copied in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from policies.vocabulary import OrgType

ORAL_STATEMENT_DAYS = 30
AGENCY_TYPES = frozenset({OrgType.POLICE, OrgType.COMPLIANCE})
STATEMENTS = frozenset({"written", "oral"})
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:#-]{0,63}$")


class SuspensionInvalid(ValueError):
    """The suspension cannot be recorded: "field: why" (never the field's value)."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location


@dataclass(frozen=True)
class Suspension:
    agency: str  # org id of the law-enforcement or oversight agency
    statement: str  # written | oral
    reference: str  # the agency's statement or case reference (an id, not its text)
    start: date
    end: date

    def check(self) -> None:
        """Raises: SuspensionInvalid."""
        if self.statement not in STATEMENTS:
            raise SuspensionInvalid("statement", "must be written or oral")
        if not _REFERENCE.match(self.reference):
            raise SuspensionInvalid(
                "reference", "must be 1-64 letters, digits or . _ / : # - (an id, not the text)"
            )
        if self.end < self.start:
            raise SuspensionInvalid("end", "must not be before start")
        if self.statement == "oral" and self.end > self.start + timedelta(days=ORAL_STATEMENT_DAYS):
            raise SuspensionInvalid(
                "end",
                f"an oral statement suspends for at most {ORAL_STATEMENT_DAYS} days "
                "(45 CFR 164.528(a)(2)(ii)); record the written statement for longer",
            )

    def in_force(self, day: date) -> bool:
        return self.start <= day <= self.end

    def detail(self) -> dict[str, str]:
        """The audit record's detail: ids, codes and dates only."""
        return {
            "agency": self.agency,
            "statement": self.statement,
            "reference": self.reference,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Suspension | None:
        """The suspension an audit record's detail holds, or None if it holds none."""
        try:
            return cls(
                agency=str(detail["agency"]),
                statement=str(detail["statement"]),
                reference=str(detail["reference"]),
                start=date.fromisoformat(str(detail["start"])),
                end=date.fromisoformat(str(detail["end"])),
            )
        except (KeyError, ValueError):
            return None

    def as_json(self, today: date) -> dict[str, Any]:
        return {**self.detail(), "in_force": self.in_force(today)}
