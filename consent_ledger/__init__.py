"""Consent ledger: each person's consents as versioned, append-only FHIR Consent (DESIGN.md 7, 11).

    terms = read_consent(fhir_consent_json)        # raises ConsentInvalid / ConsentIncomplete
    facts = facts_at(versions_of_person, at=now)    # the policy engine's `consents[]`

Pure modules: `domain`, `elements` (42 CFR 2.31(a), 45 CFR 164.508(c)), `fhir`, `rules`.
SQL lives in `consent_ledger.sql`.
"""

from consent_ledger.domain import Change, ConsentFact, ConsentTerms, ConsentVersion, FactStatus
from consent_ledger.errors import (
    ChainBroken,
    ConsentError,
    ConsentFinal,
    ConsentIncomplete,
    ConsentInvalid,
    ConsentNotFound,
    Problem,
    StaleVersion,
    VersionMismatch,
)
from consent_ledger.fhir import read_consent
from consent_ledger.rules import GENESIS, current_at, facts_at, row_hash, verify_chain

__all__ = [
    "GENESIS",
    "ChainBroken",
    "Change",
    "ConsentError",
    "ConsentFact",
    "ConsentFinal",
    "ConsentIncomplete",
    "ConsentInvalid",
    "ConsentNotFound",
    "ConsentTerms",
    "ConsentVersion",
    "FactStatus",
    "Problem",
    "StaleVersion",
    "VersionMismatch",
    "current_at",
    "facts_at",
    "read_consent",
    "row_hash",
    "verify_chain",
]
