"""The policy gate: every request's decision input, assembled by the gateway, decided by the engine.

Invariants:
- Inputs come from the registry (org type, agreements in force today, CJIS personnel status),
  the verified token (MFA) and stored data (data classes, consents), never from a request body.
  `$evaluate` is the one exception, for admins testing policies (gateway.api.decisions).
- `context.now` is the decision instant rounded *up* to the whole second: consent expiry can
  only be seen early, never late, and identical requests within a second share a cache entry.
- Every decision is audited (DESIGN.md 10): a refusal by `require` is recorded here, durably,
  before `PolicyDenied` is raised; a permit is recorded by the flow, in the transaction of what
  the permit let happen (`record` builds the record, `audit.accept` writes it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection

from audit.record import AuditRecord, Kind
from gateway.flows.audit_log import AuditLog
from gateway.flows.obligations import Channel, require_fulfillable
from gateway.log_config import get_logger
from gateway.registry.domain import NO_CJIS, CjisStatus, Sender
from policies.decision import Decision
from policies.engine import PolicyEngine
from policies.vocabulary import Action, DataClass, PurposeOfUse

log = get_logger(__name__)

PUSH_PURPOSE = PurposeOfUse.COC  # what the program receives records for (regulations.md 0.2)


class PolicyDenied(Exception):
    """The engine denied the request; `decision` carries the reasons (codes are safe to show)."""

    def __init__(self, decision: Decision) -> None:
        self.code = ", ".join(decision.codes)  # the deciding rule codes
        super().__init__(self.code)
        self.decision = decision

    @property
    def summary(self) -> str:
        """The deciding codes with their plain sentences, for an error message."""
        text = " ".join(f"{reason.code}: {reason.text}" for reason in self.decision.reasons)
        if self.decision.unfulfilled:
            text += f" Cannot fulfil: {', '.join(self.decision.unfulfilled)}."
        return text


def decision_instant(now: datetime) -> str:
    """RFC 3339, UTC, rounded up to the second."""
    now = now.astimezone(UTC)
    if now.microsecond:
        now = now.replace(microsecond=0) + timedelta(seconds=1)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Requester:
    """Who is asking, as the registry and the token describe them."""

    sender: Sender
    mfa: bool = False
    cjis: CjisStatus = NO_CJIS
    user: str | None = None  # the token's subject: the person acting (None for system feeds)

    def as_audit(self) -> dict[str, str | None]:
        return {"org": self.sender.org.org_id, "client": self.sender.client_id, "user": self.user}

    def as_input(self, today: Any) -> dict[str, Any]:
        org = self.sender.org
        return {
            "org_id": org.org_id,
            "org_type": org.org_type.value,
            "role": self.sender.role.value,
            "agreements": [kind.value for kind in org.agreements_in_force(today)],
            "cjis": {
                "security_addendum": self.cjis.security_addendum,
                "training_current": self.cjis.training_current,
                "background_check": self.cjis.background_check,
            },
            "auth": {"mfa": self.mfa},
        }


@dataclass(frozen=True)
class Permit:
    """A permit with the input it was decided on and who asked: what its audit records are
    written from, in the transaction of what it allowed."""

    decision_input: dict[str, Any]
    decision: Decision
    requester: Requester


def current_request_id() -> str | None:
    """The HTTP request's id (bound by the middleware), for the audit record."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value is not None else None


class PolicyGate:
    def __init__(
        self,
        engine: PolicyEngine,
        audit: AuditLog,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.audit = audit
        self._clock = clock

    def record(
        self,
        decision_input: Mapping[str, Any],
        decision: Decision,
        requester: Requester,
        *,
        outcome: str,
        person_id: str | None = None,
        data_classes: Iterable[str] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """The audit record of one decision about one person (ids and codes only).

        `data_classes` are what was actually stored or disclosed (default: what was decided on).
        """
        resource = decision_input.get("resource") or {}
        subject = decision_input.get("subject") or {}
        return AuditRecord(
            kind=Kind.DECISION,
            action=str(decision_input.get("action")),
            decision=decision.decision,
            outcome=outcome,
            recorded=self._clock(),
            requester=requester.as_audit(),
            purpose=str(decision_input.get("purpose_of_use")),
            person_id=person_id if person_id is not None else subject.get("person_id"),
            reasons=decision.codes,
            policy_version=decision.policy_version,
            data_classes=tuple(
                data_classes if data_classes is not None else resource.get("data_classes", ())
            ),
            obligations=decision.obligations if decision.permitted else (),
            request_id=current_request_id(),
            detail={"resource_kind": resource.get("kind"), **(detail or {})},
        )

    def records(self, permit: Permit, person_ids: Iterable[str | None], outcome: str) -> list[AuditRecord]:
        """A permit's audit records: one per distinct person it touched (one without a person
        when it touched none, e.g. a redelivery)."""
        return [
            self.record(
                permit.decision_input, permit.decision, permit.requester, outcome=outcome, person_id=p
            )
            for p in (list(dict.fromkeys(person_ids)) or [None])
        ]

    def refuse(
        self,
        decision_input: Mapping[str, Any],
        decision: Decision,
        requester: Requester,
        connection: Connection | None = None,
    ) -> PolicyDenied:
        """Record a refusal durably and return the error to raise: in its own transaction, or
        in `connection`'s when the caller decides inside a write transaction (SQLite has one
        writer: a second transaction would wait for the first).

        Raises:
            AuditUnavailable: the refusal could not be recorded.
        """
        record = self.record(decision_input, decision, requester, outcome="refused")
        if connection is not None:
            self.audit.accept(connection, [record])
        else:
            self.audit.accept_now([record])
        return PolicyDenied(decision)

    def decide(self, decision_input: Mapping[str, Any]) -> Decision:
        """Raises: PolicyUnavailable (the caller fails closed)."""
        decision = self.engine.decide(decision_input)
        log.info(
            "policy_decision",
            action=decision_input.get("action"),
            decision=decision.decision,
            reasons=list(decision.codes),
            obligations=list(decision.obligations),
            policy_version=decision.policy_version,
        )
        return decision

    def build_input(
        self,
        *,
        action: Action,
        purpose: PurposeOfUse,
        requester: Requester,
        classes: Iterable[str],
        kind: str,
        person_id: str | None = None,
        source_org: str | None = None,
        consents: list[dict[str, Any]] | None = None,
        emergency: bool = False,
        break_glass: bool = False,
    ) -> dict[str, Any]:
        now = self._clock()
        return {
            "action": action.value,
            "purpose_of_use": purpose.value,
            "requester": requester.as_input(now.date()),
            "subject": {"person_id": person_id},
            "resource": {"kind": kind, "data_classes": sorted(set(classes)), "source_org": source_org},
            "consents": consents or [],
            "context": {
                "emergency": emergency,
                "imminent_threat": False,  # set only from a workforce attestation: none is recorded yet
                "court_order": None,  # set only from a registered legal-process record: none yet
                "break_glass": break_glass,
                "now": decision_instant(now),
            },
        }

    def require(
        self,
        decision_input: Mapping[str, Any],
        channel: Channel,
        requester: Requester,
        connection: Connection | None = None,
    ) -> Decision:
        """A permit whose every obligation `channel` can fulfil (regulations.md 6(7)).
        A refusal is audited before it is raised; the caller audits the permit.

        Raises: PolicyDenied; PolicyUnavailable; AuditUnavailable.
        """
        decision = require_fulfillable(self.decide(decision_input), channel)
        if not decision.permitted:
            raise self.refuse(decision_input, decision, requester, connection)
        return decision

    def require_push(
        self,
        sender: Sender,
        classes: Iterable[str],
        *,
        kind: str = "record",
        requester: Requester | None = None,
        channel: Channel = Channel.PUSH,
    ) -> Permit:
        """PUSH-INGEST: the sender's own records (source_org is always the sender's org).

        `requester` adds the token's MFA and the registry's CJIS status, which CJI needs.
        """
        who = requester or Requester(sender)
        decision_input = self.build_input(
            action=Action.PUSH_RECORD,
            purpose=PUSH_PURPOSE,
            requester=who,
            classes=classes,
            kind=kind,
            source_org=sender.org.org_id,
        )
        return Permit(decision_input, self.require(decision_input, channel, who), who)

    def require_manage_consent(
        self,
        requester: Requester,
        scope: Iterable[str] = (DataClass.PHI.value,),
        person_id: str | None = None,
        connection: Connection | None = None,
    ) -> Permit:
        """CONSENT-MANAGE: recording, changing, reading or revoking consents."""
        decision_input = self.build_input(
            action=Action.MANAGE_CONSENT,
            purpose=PurposeOfUse.TREAT,
            requester=requester,
            classes=scope,
            kind="consent",
            person_id=person_id,
        )
        return Permit(
            decision_input, self.require(decision_input, Channel.CONSENT, requester, connection), requester
        )
