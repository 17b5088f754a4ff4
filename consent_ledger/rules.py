"""Pure rules of the ledger: which version holds at an instant, the facts it yields, the chain.

Invariants:
- A version holds from max(recorded_at, effective_at): the ledger never applies what it did not
  yet know (so `facts_at(t)` reproduces any past decision), and a revocation dated ahead takes
  effect only at its effective time.
- Revoke and expire are final: nothing follows them (re-consent is a new consent).
- A consent not yet in its period (start after `at`), or entered in error, yields no fact.
- Period end and revocation need no job: they are read against `at` on every question.
- Each version's `row_hash` is SHA-256 over its canonical JSON, which includes the previous
  version's hash; version numbers run 1..n without gaps. `verify_chain` finds the first break.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

from consent_ledger.domain import (
    FINAL_CHANGES,
    Change,
    ConsentFact,
    ConsentVersion,
    FactStatus,
    as_utc,
    instant_text,
)
from consent_ledger.errors import ChainBroken

GENESIS = "0" * 64


def holds_from(version: ConsentVersion) -> datetime:
    """The first instant a version applies: when the ledger knew it and it was in effect."""
    return max(as_utc(version.recorded_at), as_utc(version.effective_at))


def current_at(history: Iterable[ConsentVersion], at: datetime) -> ConsentVersion | None:
    """The version of one consent that holds at `at` (history in any order)."""
    holding = [v for v in history if holds_from(v) <= as_utc(at)]
    return max(holding, key=lambda v: v.version) if holding else None


def fact_of(version: ConsentVersion, at: datetime) -> ConsentFact | None:
    """The consent as the policy engine sees it at `at`; None when it should not be seen at all."""
    terms = version.terms
    when = as_utc(at)
    if version.change is Change.REVOKE:
        status = FactStatus.REVOKED
    elif version.change is Change.EXPIRE:
        status = FactStatus.EXPIRED
    elif terms.fhir_status in ("draft", "proposed"):
        status = FactStatus.DRAFT
    elif terms.fhir_status != "active" or _not_started(terms.period_start, when):
        return None
    elif terms.period_end is not None and as_utc(terms.period_end) <= when:
        status = FactStatus.EXPIRED
    else:
        status = FactStatus.ACTIVE
    return ConsentFact(
        id=version.consent_id,
        status=status,
        scope=tuple(sorted(c.value for c in terms.scope)),
        recipients=tuple(sorted(terms.recipient_orgs)) + tuple(sorted(terms.recipient_types)),
        purposes=tuple(sorted(p.value for p in terms.purposes)),
        part2_elements_complete=not terms.part2_missing,
        expires=instant_text(terms.period_end),
    )


def facts_at(versions: Iterable[ConsentVersion], at: datetime) -> list[ConsentFact]:
    """Every consent of one person at `at`, from all their versions, ordered by consent id."""
    by_consent: dict[str, list[ConsentVersion]] = {}
    for version in versions:
        by_consent.setdefault(version.consent_id, []).append(version)
    facts = []
    for consent_id in sorted(by_consent):
        current = current_at(by_consent[consent_id], at)
        fact = fact_of(current, at) if current is not None else None
        if fact is not None:
            facts.append(fact)
    return facts


def row_hash(version: ConsentVersion) -> str:
    """SHA-256 over the version's canonical JSON (sorted keys, no spaces), previous hash included."""
    body = {
        "consent_id": version.consent_id,
        "version": version.version,
        "person_id": version.person_id,
        "change": version.change.value,
        "terms": version.terms.as_json(),
        "recorded_at": instant_text(version.recorded_at),
        "effective_at": instant_text(version.effective_at),
        "recorded_by_client": version.recorded_by_client,
        "recorded_by_org": version.recorded_by_org,
        "reason": version.reason,
        "document_sha256": version.document_sha256,
        "prev_hash": version.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_chain(history: list[ConsentVersion]) -> None:
    """Check one consent's versions (any order) form an unbroken, unaltered chain from version 1.

    Raises:
        ChainBroken: naming the first version that is missing, altered or out of place.
    """
    previous = GENESIS
    ended = False
    for expected, version in enumerate(sorted(history, key=lambda v: v.version), start=1):
        if version.version != expected:
            raise ChainBroken(version.consent_id, expected, "version is missing")
        if version.prev_hash != previous:
            raise ChainBroken(version.consent_id, expected, "does not follow the previous version")
        if row_hash(version) != version.row_hash:
            raise ChainBroken(version.consent_id, expected, "content does not match its hash")
        if ended:
            raise ChainBroken(version.consent_id, expected, "follows a revocation or expiry")
        ended = version.change in FINAL_CHANGES
        previous = version.row_hash


def _not_started(start: datetime | None, when: datetime) -> bool:
    return start is not None and as_utc(start) > when
