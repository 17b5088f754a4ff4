"""Compliance queries of the audit log: entries, the accounting of disclosures, AuditEvents.

Invariants:
- Every query is decided by the policy engine (AUDIT-ACCESS: role compliance_officer, purpose
  HOVERSIGHT or PATRQT) and recorded (`access.audit-read`, one record per person asked about)
  before anything is returned; a refusal is recorded too.
- Reports are rendered from the leaf bytes, re-parsed strictly, never from the query columns
  (which are copies outside the hash, reference/audit-log.md T2); a row whose columns disagree
  with its leaf is reported with the leaf's content and flagged.
- A suspension (45 CFR 164.528(a)(2)) is itself a log record. Asked for the person (PATRQT), the
  accounting leaves out disclosures to an agency whose suspension is in force, and says nothing
  of it; for oversight (HOVERSIGHT) it shows every disclosure, marks those suspended, and lists
  the suspensions. Suspensions still waiting for integration count too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.errors import RecordError
from audit.merkle import leaf_hash
from audit.record import Kind, parse_leaf
from gateway.flows.obligations import Channel
from gateway.flows.policy import PolicyGate, Requester
from gateway.flows.registry import RegistryService
from gateway.flows.suspensions import AGENCY_TYPES, Suspension, SuspensionInvalid
from gateway.store import audit as store
from policies.catalog import load_catalog
from policies.errors import PolicyLoadError
from policies.vocabulary import Action, PurposeOfUse

ACCOUNTING_YEARS = 6  # 45 CFR 164.528(a)(1): disclosures in the six years before the request
DISCLOSING_ACTIONS = frozenset({Action.LOOKUP_RECORD.value, Action.PULL_FLAGS.value})
PAGE_LIMIT = 500
PENDING_SCAN = 100_000  # pending records searched for suspensions not yet integrated


@dataclass(frozen=True)
class EntryQuery:
    person_id: str | None = None
    org: str | None = None
    decision: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int = -1
    limit: int = 100


@dataclass(frozen=True)
class Entry:
    index: int
    record: dict[str, Any]
    leaf: bytes  # the exact stored bytes
    leaf_hash: str
    columns_match: bool  # the query columns agree with the leaf (False = altered outside the hash)


class AuditQueries:
    def __init__(self, *, policy: PolicyGate, registry: RegistryService) -> None:
        self._policy = policy
        self._registry = registry
        self._catalog = load_catalog()

    def authorise(
        self, requester: Requester, purpose: PurposeOfUse, person_id: str | None, what: str
    ) -> None:
        """AUDIT-ACCESS, decided and recorded (the refusal too) before any read.

        Raises: PolicyDenied; PolicyUnavailable; AuditUnavailable.
        """
        self._decide_and_record(
            requester, purpose, person_id, kind=Kind.AUDIT_READ, outcome="read", detail={"query": what}
        )

    def _decide_and_record(
        self,
        requester: Requester,
        purpose: PurposeOfUse,
        person_id: str | None,
        *,
        kind: str,
        outcome: str,
        detail: dict[str, Any],
    ) -> None:
        """The AUDIT-ACCESS decision, and its record of `kind` accepted before anything else.

        Raises: PolicyDenied (recorded); PolicyUnavailable; AuditUnavailable.
        """
        decision_input = self._policy.build_input(
            action=Action.QUERY_AUDIT,
            purpose=purpose,
            requester=requester,
            classes=["phi"],
            kind="audit",
            person_id=person_id,
        )
        decision = self._policy.require(decision_input, Channel.AUDIT_QUERY, requester)
        record = self._policy.record(decision_input, decision, requester, outcome=outcome, detail=detail)
        self._policy.audit.accept_now([replace(record, kind=kind)])

    def entries(self, requester: Requester, purpose: PurposeOfUse, query: EntryQuery) -> list[Entry]:
        self.authorise(requester, purpose, query.person_id, "entries")
        with self._policy.audit.reader() as connection:
            rows = store.entries(
                connection=connection,
                person_id=query.person_id,
                org=query.org,
                decision=query.decision,
                since=query.since,
                until=query.until,
                after_index=query.after,
                limit=min(query.limit, PAGE_LIMIT),
            )
        return [_entry(row) for row in rows]

    def accounting(
        self, requester: Requester, purpose: PurposeOfUse, person_id: str, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """The accounting of disclosures (45 CFR 164.528(b); 42 CFR 2.24 for Part 2) for a person,
        with suspensions applied (see the module's invariants)."""
        self.authorise(requester, purpose, person_id, "accounting")
        now = now or datetime.now(UTC)
        since = now - timedelta(days=365 * ACCOUNTING_YEARS + 2)
        disclosures = []
        suspensions: list[Suspension] = []
        after = -1
        with self._policy.audit.reader() as connection:
            while rows := store.entries(
                connection=connection, person_id=person_id, since=since, after_index=after, limit=PAGE_LIMIT
            ):
                after = rows[-1].idx
                for row in rows:
                    entry = _entry(row)
                    if _is_disclosure(entry.record, person_id):
                        disclosures.append(self._disclosure(entry))
                    elif found := _suspension(entry.record, person_id):
                        suspensions.append(found)
            suspensions += _pending_suspensions(connection, person_id)
        suspensions = list(dict.fromkeys(suspensions))  # integrated between the two reads: once
        silenced = {s.agency for s in suspensions if s.in_force(now.date())}
        for disclosure in disclosures:
            disclosure["suspended"] = disclosure["recipient"]["org_id"] in silenced
        report: dict[str, Any] = {
            "person_id": person_id,
            "generated": now.isoformat(),
            "period": {"from": since.date().isoformat(), "to": now.date().isoformat()},
            "basis": ["45 CFR 164.528(b)", "42 CFR 2.24"],
            "disclosures": disclosures,
            "log": {"origin": self._policy.audit.origin, "size": self._policy.audit.head().size},
        }
        if purpose is PurposeOfUse.PATRQT:  # the person's own copy: suspended rows are left out
            report["disclosures"] = [d for d in disclosures if not d.pop("suspended")]
        else:
            report["suspensions"] = [s.as_json(now.date()) for s in suspensions]
        return report

    def suspend(
        self, requester: Requester, purpose: PurposeOfUse, person_id: str, suspension: Suspension
    ) -> dict[str, Any]:
        """Record an agency's suspension of this person's accounting, as an entry of the log.

        Raises:
            SuspensionInvalid; PolicyDenied; PolicyUnavailable; AuditUnavailable.
        """
        if purpose is not PurposeOfUse.HOVERSIGHT:
            raise SuspensionInvalid("X-Purpose-Of-Use", "a suspension is recorded for oversight (HOVERSIGHT)")
        suspension.check()
        agency = self._registry.get_org(suspension.agency)
        if agency is None or agency.org_type not in AGENCY_TYPES:
            raise SuspensionInvalid(
                "agency",
                "must be a registered law-enforcement (police) or health-oversight (compliance) "
                "organisation (45 CFR 164.528(a)(2))",
            )
        self._decide_and_record(
            requester,
            purpose,
            person_id,
            kind=Kind.ACCOUNTING_SUSPENSION,
            outcome="recorded",
            detail=suspension.detail(),
        )
        return {"person_id": person_id, **suspension.as_json(datetime.now(UTC).date())}

    def _disclosure(self, entry: Entry) -> dict[str, Any]:
        record = entry.record
        requester = record.get("requester") or {}
        org = self._registry.get_org(str(requester.get("org"))) if requester.get("org") else None
        detail = record.get("detail") or {}
        classes = list(record.get("data_classes") or [])
        return {
            "index": entry.index,
            "leaf_hash": entry.leaf_hash,
            "date": record.get("recorded"),
            "recipient": {
                "org_id": requester.get("org"),
                "name": org.name if org else None,  # the registry keeps no postal address
                "client": requester.get("client"),
                "user": requester.get("user"),
            },
            "description": _describe(classes, detail.get("record_kinds"), detail.get("flags")),
            "data_classes": classes,
            "part2": "part2" in classes,
            "purpose": record.get("purpose"),
            "legal_basis": [self._basis(code) for code in record.get("reasons") or []],
            "break_glass": bool(detail.get("break_glass")),
            "accountable": bool(detail.get("accountable")),
            "columns_match": entry.columns_match,
        }

    def _basis(self, code: str) -> dict[str, str]:
        try:
            reason = self._catalog.reason(code)
        except PolicyLoadError:  # a code of an overlay's own
            return {"code": code, "citation": "", "text": ""}
        return reason.as_json()


def _entry(row: Any) -> Entry:
    leaf = bytes(row.leaf)
    hashed = leaf_hash(leaf)
    try:
        record = parse_leaf(leaf)
    except RecordError:
        record = {"unreadable": True}
    requester = record.get("requester") or {}
    columns_match = (
        row.person_id == record.get("person_id")
        and row.kind == record.get("kind")
        and row.decision == record.get("decision")
        and row.action == record.get("action")
        and row.requester_org == (requester.get("org") if isinstance(requester, Mapping) else None)
        and bytes(row.leaf_hash) == hashed
    )
    return Entry(
        index=int(row.idx),
        record=record,
        leaf=leaf,
        leaf_hash=hashed.hex(),
        columns_match=columns_match,
    )


def _is_disclosure(record: Mapping[str, Any], person_id: str) -> bool:
    """A release of someone's data to a recipient: a permitted lookup or flag pull that disclosed."""
    return (
        record.get("kind") == Kind.DECISION
        and record.get("person_id") == person_id
        and record.get("action") in DISCLOSING_ACTIONS
        and record.get("decision") == "permit"
        and record.get("outcome") == "disclosed"
    )


def _suspension(record: Mapping[str, Any], person_id: str) -> Suspension | None:
    if record.get("kind") != Kind.ACCOUNTING_SUSPENSION or record.get("person_id") != person_id:
        return None
    detail = record.get("detail")
    return Suspension.from_detail(detail) if isinstance(detail, Mapping) else None


def _pending_suspensions(connection: Any, person_id: str) -> list[Suspension]:
    """Suspensions accepted but not yet integrated (an omission must never wait for the tree)."""
    found = []
    for row in store.pending_batch(connection=connection, limit=PENDING_SCAN):
        leaf = bytes(row.leaf)
        if Kind.ACCOUNTING_SUSPENSION.encode() not in leaf:
            continue
        try:
            record = parse_leaf(leaf)
        except RecordError:
            continue
        if suspension := _suspension(record, person_id):
            found.append(suspension)
    return found


def _describe(classes: list[str], kinds: object, flags: object = None) -> str:
    words = {
        "phi": "health information",
        "mental_health": "mental health information",
        "part2": "substance use disorder treatment information (42 CFR Part 2)",
        "psychotherapy_notes": "psychotherapy notes",
        "cji": "criminal justice information",
    }
    what = ", ".join(words.get(c, c) for c in classes) or "no records"
    if isinstance(flags, list) and flags:
        return f"police flags ({', '.join(map(str, flags))}) derived from {what}"
    return f"{what}; records: {kinds}" if kinds else what
