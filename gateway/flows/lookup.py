"""A co-responder clinician looks up a person: decided, redacted, noticed and accounted.

Invariants:
- The decision input is built from the token, the registry (org, agreements, the caller's
  CJIS personnel status), the ledger's consents at this instant and the data classes of the
  records the summary would hold — never from the request beyond the patient it names, the
  purpose of use and a break-glass statement.
- A permit is only acted on if this channel can fulfil every obligation (regulations.md 6(7)).
- Redaction removes whole records before anything is rendered.
- Write-ahead: the disclosure record (the accounting entry) and any privacy-officer review
  commit before the response is built; if they cannot be written, nothing is disclosed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from audit.errors import AuditUnavailable
from gateway.crypto import open_facts, open_sealed, seal
from gateway.flows.consents import ConsentService
from gateway.flows.obligations import Channel, require_fulfillable, withheld_classes
from gateway.flows.patients import find_person
from gateway.flows.policy import PolicyDenied, PolicyGate, Requester
from gateway.flows.summary import (
    SUMMARY_KINDS,
    StoredRecord,
    classes_of,
    discloses_part2,
    kinds_count,
    select_summary,
    summary_bundle,
)
from gateway.keyring import Keyring
from gateway.log_config import get_logger
from gateway.store import disclosures as disclosure_store
from gateway.store import envelopes as envelope_store
from gateway.store import persons
from gateway.store.database import utc, writer
from policies.decision import Decision
from policies.vocabulary import Action, DataClass, Obligation, PurposeOfUse

log = get_logger(__name__)

REVIEWED = (Obligation.RECORD_BREAK_GLASS, Obligation.NOTIFY_PRIVACY_OFFICER)


class PatientNotFound(Exception):
    """The request names no person the gateway knows (by id, the caller's id, or identifier)."""


@dataclass(frozen=True)
class LookupRequest:
    requester: Requester
    subject: str  # the workforce member acting (the token's `sub`)
    patient: str | None = None  # the gateway's person id or the caller's own Patient id
    identifier: tuple[str | None, str] | None = None  # or an identifier (system, value)
    purpose: PurposeOfUse = PurposeOfUse.TREAT
    break_glass: str | None = None  # the stated emergency, when breaking the glass
    request_id: str | None = None

    @property
    def purpose_of_use(self) -> PurposeOfUse:
        """Breaking the glass is emergency treatment (HL7 BTG with ETREAT), whatever was asked."""
        return PurposeOfUse.ETREAT if self.break_glass is not None else self.purpose


@dataclass(frozen=True)
class Disclosed:
    bundle: dict[str, Any]
    decision: Decision
    disclosure_id: str | None  # None when nothing was disclosed


class LookupService:
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
        self._writer = writer(engine)
        self._keyring = keyring
        self._policy = policy
        self._consents = consents
        self._clock = clock

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._reader.connect() as connection:
            yield connection

    def summary(self, request: LookupRequest, *, base_url: str) -> Disclosed:
        """The person's co-responder summary, as the decision allows.

        Raises:
            PatientNotFound; PolicyDenied (with the reasons; no data); PolicyUnavailable.
        """
        now = self._clock()
        org_id = request.requester.sender.org.org_id
        with self._read() as connection:
            person_id = find_person(
                connection,
                self._keyring,
                org_id,
                logical_id=request.patient,
                identifier=request.identifier,
            )
            if person_id is None:
                raise PatientNotFound("no patient with that id or identifier")
            ids = persons.merged_ids(connection=connection, person_id=person_id)
            rows = envelope_store.for_persons(
                connection=connection, person_ids=ids, kinds=[kind.value for kind in SUMMARY_KINDS]
            )
            consents = self._consents.consents_for_in(connection, person_id, now)
        selected = select_summary((self._open(row) for row in rows), now)
        health = [r for r in selected if DataClass.CJI.value not in r.data_classes]
        incidents = [r for r in selected if DataClass.CJI.value in r.data_classes]
        health_input, decision = self._decide(
            request, person_id, consents, classes_of(health) or {DataClass.PHI.value}
        )
        withheld = {data_class.value for data_class in withheld_classes(decision.obligations)}
        disclosed = [r for r in health if decision.permitted and not (r.data_classes & withheld)]
        decided = [(health_input, decision, disclosed)]
        if incidents and decision.permitted:
            # CJI is decided on its own (CJIS-*: MFA, personnel status, purpose COC or LAW), so
            # a clinician without CJIS clearance still gets the health summary, without incidents.
            cji_input, cji = self._decide(request, person_id, consents, {DataClass.CJI.value})
            decided.append((cji_input, cji, incidents if cji.permitted else []))
            if cji.permitted:
                disclosed += incidents
                decision = _joined(decision, cji)
        disclosure_id = str(uuid.uuid4()) if disclosed else None
        self._record(request, person_id, decision, disclosed, disclosure_id, now, decided)
        if not decision.permitted:
            raise PolicyDenied(decision)
        notice = Obligation.ATTACH_P2_NOTICE.value in decision.obligations and discloses_part2(disclosed)
        bundle = summary_bundle(
            disclosed, bundle_id=disclosure_id or str(uuid.uuid4()), base_url=base_url, notice=notice
        )
        return Disclosed(bundle=bundle, decision=decision, disclosure_id=disclosure_id)

    def _decide(
        self,
        request: LookupRequest,
        person_id: str,
        consents: list[dict[str, Any]],
        classes: set[str] | frozenset[str],
    ) -> tuple[dict[str, Any], Decision]:
        breaking = request.break_glass is not None
        decision_input = self._policy.build_input(
            action=Action.LOOKUP_RECORD,
            purpose=request.purpose_of_use,
            requester=request.requester,
            classes=classes,
            kind="record",
            person_id=person_id,
            consents=consents,
            emergency=breaking,
            break_glass=breaking,
        )
        return decision_input, require_fulfillable(self._policy.decide(decision_input), Channel.RECORD_LOOKUP)

    def _open(self, row: Any) -> StoredRecord:
        aad = row.envelope_id.encode()
        return StoredRecord(
            envelope_id=row.envelope_id,
            kind=row.kind,
            source_org_id=row.source_org_id,
            source_format=row.source_format,
            received_at=utc(row.received_at),
            occurred_at=utc(row.occurred_at) if row.occurred_at else None,
            data_classes=frozenset(filter(None, row.data_classes.split(","))),
            security_labels=frozenset(filter(None, row.security_labels.split(","))),
            payload=open_sealed(self._keyring, row.payload_sealed, associated_data=aad),
            facts=open_facts(self._keyring, row.envelope_id, row.facts_sealed),
        )

    def _record(
        self,
        request: LookupRequest,
        person_id: str,
        decision: Decision,
        disclosed: list[StoredRecord],
        disclosure_id: str | None,
        now: datetime,
        decided: list[tuple[dict[str, Any], Decision, list[StoredRecord]]],
    ) -> None:
        """Write the audit records of every decision, the disclosure and the reviews its
        obligations ask for, in one transaction, before anything is released (write-ahead).

        Raises:
            AuditUnavailable: nothing was written; nothing may be released.
        """
        reviews = [
            self._review(request, person_id, decision, obligation, disclosure_id, now)
            for obligation in REVIEWED
            if obligation.value in decision.obligations
        ]
        records = [
            self._policy.record(
                decision_input,
                one,
                request.requester,
                outcome="disclosed" if shown else "refused" if not one.permitted else "nothing-disclosed",
                data_classes=sorted(classes_of(shown)),
                detail={
                    "disclosure_id": disclosure_id if shown else None,
                    "envelope_ids": [record.envelope_id for record in shown],
                    "record_kinds": kinds_count(shown),
                    "accountable": Obligation.RECORD_ACCOUNTING.value in one.obligations,
                    "break_glass": request.break_glass is not None,
                },
            )
            for decision_input, one, shown in decided
        ]
        sender = request.requester.sender
        try:
            with self._writer.begin() as connection:
                self._policy.audit.accept(connection, records)
                if disclosed and disclosure_id is not None:
                    disclosure_store.add_disclosure(
                        connection=connection,
                        row={
                            "disclosure_id": disclosure_id,
                            "disclosed_at": now,
                            "person_id": person_id,
                            "recipient_org_id": sender.org.org_id,
                            "recipient_client_id": sender.client_id,
                            "recipient_subject": request.subject[:255],
                            "action": Action.LOOKUP_RECORD.value,
                            "purpose_of_use": request.purpose_of_use.value,
                            "legal_basis": ",".join(decision.codes),
                            "data_classes": ",".join(sorted(classes_of(disclosed))),
                            "record_kinds": kinds_count(disclosed)[:255],
                            "envelope_ids": ",".join(record.envelope_id for record in disclosed),
                            "obligations": ",".join(sorted(decision.obligations)),
                            "accountable": Obligation.RECORD_ACCOUNTING.value in decision.obligations,
                            "break_glass": request.break_glass is not None,
                            "policy_version": decision.policy_version,
                            "request_id": request.request_id,
                        },
                    )
                disclosure_store.add_reviews(connection=connection, rows=reviews)
        except SQLAlchemyError as exc:
            log.error("lookup_write_ahead_failed", error_type=type(exc).__name__)
            raise AuditUnavailable("the disclosure could not be recorded") from None

    def _review(
        self,
        request: LookupRequest,
        person_id: str,
        decision: Decision,
        obligation: Obligation,
        disclosure_id: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        review_id = str(uuid.uuid4())
        statement = request.break_glass
        return {
            "review_id": review_id,
            "created_at": now,
            "obligation": obligation.value,
            "person_id": person_id,
            "requester_org_id": request.requester.sender.org.org_id,
            "requester_client_id": request.requester.sender.client_id,
            "requester_subject": request.subject[:255],
            "decision": decision.decision,
            "reason_codes": ",".join(decision.codes),
            "disclosure_id": disclosure_id,
            "statement_sealed": (
                seal(self._keyring, statement.encode(), associated_data=review_id.encode())
                if statement
                else None
            ),
            "request_id": request.request_id,
        }


def _joined(health: Decision, cji: Decision) -> Decision:
    """Two permits as one disclosure: every reason and obligation of both, in order."""
    return replace(
        health,
        obligations=tuple(dict.fromkeys((*health.obligations, *cji.obligations))),
        reasons=tuple(dict.fromkeys((*health.reasons, *cji.reasons))),
    )
