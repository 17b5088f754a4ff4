"""Police pull permitted flags: matched, derived, decided, redacted, audited (DESIGN.md 1, 4, 6).

Invariants:
- The person is named by an identifier or by family + given + birth date; demographics that
  match more than one person return no flags and say so (a wrong match is worse than none).
- Flags are derived by `policies/flags.rego` from the person's stored records (facts only);
  each flag carries its source record's data classes, the decision covers all of them, and a
  flag resting on a class the decision withholds is dropped before anything is rendered.
- Every pull is decided and audited — matched or not, permitted or not — and the audit record
  is durable before the answer leaves (write-ahead); it is also the accounting entry.
- Whatever the reason for no flags, the answer has the same shape (gateway.flows.flag_bundle).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from connectors.envelope import Demographics, RecordKind, SubjectRef
from gateway.crypto import open_facts, open_sealed
from gateway.flows.consents import ConsentService
from gateway.flows.flag_bundle import ShownFlag, flag_bundle
from gateway.flows.obligations import Channel, require_fulfillable, withheld_classes
from gateway.flows.patients import find_person
from gateway.flows.policy import PolicyGate, Requester
from gateway.keyring import Keyring
from gateway.person_keys import subject_keys
from gateway.registry.domain import Organization
from gateway.store import envelopes as envelope_store
from gateway.store import persons
from gateway.store.database import utc
from policies.catalog import Reason
from policies.decision import Decision
from policies.flags import DerivedFlag
from policies.vocabulary import (
    FLAG_DISPLAY,
    Action,
    AgreementKind,
    DataClass,
    FlagCode,
    Obligation,
    OrgType,
    PurposeOfUse,
)

FLAG_SOURCE_KINDS = (RecordKind.CRISIS_PLAN, RecordKind.CARE_TEAM, RecordKind.FLAG, RecordKind.ENCOUNTER)

# Who takes part in the program (DESIGN.md 8): police under the data-sharing MOU, health
# organisations under a BAA, QSOA or the MOU.
POLICE_AGREEMENTS = frozenset({AgreementKind.DATA_SHARING_MOU})
HEALTH_AGREEMENTS = frozenset({AgreementKind.DATA_SHARING_MOU, AgreementKind.BAA, AgreementKind.QSOA})

NOT_A_PARTICIPANT = Reason(
    code="DEFAULT-DENY",
    citation="45 CFR 164.502(a); DESIGN.md 8",
    text="The requesting organisation has no program agreement in force, so nothing is disclosed to it.",
)


@dataclass(frozen=True)
class FlagQuery:
    requester: Requester
    identifier: tuple[str, str] | None = None  # (system, value)
    demographics: Demographics | None = None  # family, given and birth date, all three
    purpose: PurposeOfUse = PurposeOfUse.COC


@dataclass(frozen=True)
class FlagAnswer:
    bundle: dict[str, Any]
    decision: Decision
    flags: tuple[ShownFlag, ...]


@dataclass(frozen=True)
class _Source:
    """A stored record opened as far as derivation needs: facts, never the payload."""

    envelope_id: str
    kind: str
    data_classes: frozenset[str]
    started_ns: int
    period_end_ns: int | None
    facts: dict[str, Any]
    row: Any


class FlagService:
    def __init__(
        self,
        *,
        engine: Engine,
        keyring: Keyring,
        policy: PolicyGate,
        consents: ConsentService,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._reader = engine
        self._keyring = keyring
        self._policy = policy
        self._consents = consents
        self._clock = clock

    def pull(self, query: FlagQuery, *, base_url: str) -> FlagAnswer:
        """The flags `query.requester` may see about the person the query names.

        Raises:
            PolicyUnavailable (no decision: fail closed); AuditUnavailable (not recorded: nothing
            is disclosed).
        """
        now = self._clock()
        org_id = query.requester.sender.org.org_id
        sources: list[_Source] = []
        consents: list[dict[str, Any]] = []
        with self._reader.connect() as connection:
            matched = self._match(connection, query, org_id)
            person_id = matched[0] if len(matched) == 1 else None
            if person_id is not None:
                ids = persons.merged_ids(connection=connection, person_id=person_id)
                rows = envelope_store.for_persons(
                    connection=connection, person_ids=ids, kinds=[k.value for k in FLAG_SOURCE_KINDS]
                )
                sources = [self._open(row) for row in rows]
                consents = self._consents.consents_for_in(connection, person_id, now)
        by_id = {source.envelope_id: source for source in sources}
        derived = self._policy.engine.derive_flags(derivation_input(sources, now)) if sources else []
        derived = [flag for flag in derived if flag.source in by_id]
        classes = {c for flag in derived for c in by_id[flag.source].data_classes} or {DataClass.PHI.value}
        decision_input = self._policy.build_input(
            action=Action.PULL_FLAGS,
            purpose=query.purpose,
            requester=query.requester,
            classes=classes,
            kind="flags",
            person_id=person_id,
            consents=consents,
        )
        decision = require_fulfillable(self._policy.decide(decision_input), Channel.FLAG_PULL)
        decision = require_participant(decision, query.requester.sender.org, now.date())
        withheld = {data_class.value for data_class in withheld_classes(decision.obligations)}
        kept = [f for f in derived if decision.permitted and not (by_id[f.source].data_classes & withheld)]
        chosen = one_per_code(kept)
        shown = tuple(self._show(flag, by_id[flag.source]) for flag in chosen)
        shown_classes = sorted({c for flag in chosen for c in by_id[flag.source].data_classes})
        outcome = "disclosed" if shown else "refused" if not decision.permitted else "nothing-disclosed"
        record = self._policy.record(
            decision_input,
            decision,
            query.requester,
            outcome=outcome,
            data_classes=shown_classes,
            detail={
                "match": "identifier" if query.identifier else "demographics",
                "matched": "one" if person_id else "several" if matched else "none",
                "flags": [flag.code.value for flag in chosen],
                "withheld_flags": sorted({f.code.value for f in derived} - {f.code.value for f in chosen}),
                "envelope_ids": [flag.source for flag in chosen],
                "rules": [flag.rule for flag in chosen],
                "accountable": Obligation.RECORD_ACCOUNTING.value in decision.obligations,
            },
        )
        self._policy.audit.accept_now([record])  # write-ahead: raises AuditUnavailable
        notice = Obligation.ATTACH_P2_NOTICE.value in decision.obligations and DataClass.PART2.value in set(
            shown_classes
        )
        bundle = flag_bundle(
            shown, person_id=person_id, base_url=base_url, notice=notice, multiple_matches=len(matched) > 1
        )
        return FlagAnswer(bundle=bundle, decision=decision, flags=shown)

    def _match(self, connection: Connection, query: FlagQuery, org_id: str) -> list[str]:
        """The surviving people the query names: none, one, or (demographics only) several."""
        if query.identifier is not None:
            found = find_person(connection, self._keyring, org_id, identifier=query.identifier)
            return [found] if found else []
        if query.demographics is None:
            return []
        keys = subject_keys(
            SubjectRef(demographics=query.demographics), org_id=org_id, index_key=self._keyring.index_key
        )
        if keys.demographics is None:
            return []
        return persons.holders(connection=connection, keys=[("fgb", keys.demographics)])

    def _open(self, row: Any) -> _Source:
        facts = open_facts(self._keyring, row.envelope_id, row.facts_sealed)
        started = utc(row.occurred_at or row.received_at)
        return _Source(
            envelope_id=row.envelope_id,
            kind=row.kind,
            data_classes=frozenset(filter(None, row.data_classes.split(","))),
            started_ns=_ns(started),
            period_end_ns=_period_end_ns(facts.get("period_end")),
            facts=facts,
            row=row,
        )

    def _show(self, flag: DerivedFlag, source: _Source) -> ShownFlag:
        text = FLAG_DISPLAY[flag.code]
        if flag.code == FlagCode.CARE_TEAM_CONTACT and source.kind == RecordKind.CARE_TEAM:
            text = self._care_team_text(source) or text
        return ShownFlag(code=flag.code, expires=flag.expires, text=text)

    def _care_team_text(self, source: _Source) -> str | None:
        """'Care team contact available: <team name>, <phone>' — the team, not the diagnosis.

        A Part 2 program's team is given by phone only: its name may reveal the kind of care
        (regulations.md 7)."""
        payload = open_sealed(
            self._keyring, source.row.payload_sealed, associated_data=source.envelope_id.encode()
        )
        try:
            team = json.loads(payload)
        except ValueError:
            return None
        phones = [
            str(t.get("value"))
            for t in team.get("telecom") or []
            if isinstance(t, dict) and t.get("system") == "phone" and t.get("value")
        ]
        if not phones:
            return None
        name = team.get("name") if DataClass.PART2.value not in source.data_classes else None
        who = f"{name}, {phones[0]}" if isinstance(name, str) and name.strip() else phones[0]
        return f"Care team contact available: {who}"


def derivation_input(sources: Iterable[_Source], now: datetime) -> dict[str, Any]:
    """The input of `policies/flags.rego`: instants as integer nanoseconds (see its header)."""
    return {
        "now_ns": _ns(now),
        "records": [
            {
                "id": source.envelope_id,
                "kind": source.kind,
                "data_classes": sorted(source.data_classes),
                "started_ns": source.started_ns,
                "period_end_ns": source.period_end_ns,
                "facts": source.facts,
            }
            for source in sources
        ],
    }


def one_per_code(flags: Iterable[DerivedFlag]) -> list[DerivedFlag]:
    """Each code once, resting on the record that keeps it longest (ties: the first source)."""
    best: dict[FlagCode, DerivedFlag] = {}
    for flag in flags:
        if flag.code not in best or flag.expires > best[flag.code].expires:
            best[flag.code] = flag
    return [best[code] for code in sorted(best, key=lambda c: c.value)]


def require_participant(decision: Decision, org: Organization, today: date) -> Decision:
    """The decision, or a deny when the requester's org has no program agreement in force."""
    needed = POLICE_AGREEMENTS if org.org_type == OrgType.POLICE else HEALTH_AGREEMENTS
    if set(org.agreements_in_force(today)) & needed:
        return decision
    return replace(decision, decision="deny", reasons=(NOT_A_PARTICIPANT, *decision.reasons))


def _period_end_ns(value: object) -> int | None:
    """A FHIR date or dateTime (a bare date is its day's 00:00Z); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            return _ns(datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC))
        return _ns(utc(datetime.fromisoformat(value)))
    except ValueError:
        return None


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
