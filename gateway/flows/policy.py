"""The policy gate: every request's decision input, assembled by the gateway, decided by the engine.

Invariants:
- Inputs come from the registry (org type, agreements in force today, CJIS personnel status),
  the verified token (MFA) and stored data (data classes, consents), never from a request body.
  `$evaluate` is the one exception, for admins testing policies (gateway.api.decisions).
- `context.now` is the decision instant rounded *up* to the whole second: consent expiry can
  only be seen early, never late, and identical requests within a second share a cache entry.
- Decisions are logged with codes and ids only (no names, no payload), until the audit log
  (DESIGN.md 10) records them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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


class PolicyGate:
    def __init__(
        self, engine: PolicyEngine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.engine = engine
        self._clock = clock

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

    def require(self, decision_input: Mapping[str, Any], channel: Channel) -> Decision:
        """A permit whose every obligation `channel` can fulfil (regulations.md 6(7)).

        Raises: PolicyDenied; PolicyUnavailable.
        """
        decision = require_fulfillable(self.decide(decision_input), channel)
        if not decision.permitted:
            raise PolicyDenied(decision)
        return decision

    def require_push(
        self,
        sender: Sender,
        classes: Iterable[str],
        *,
        kind: str = "record",
        requester: Requester | None = None,
        channel: Channel = Channel.PUSH,
    ) -> Decision:
        """PUSH-INGEST: the sender's own records (source_org is always the sender's org).

        `requester` adds the token's MFA and the registry's CJIS status, which CJI needs.
        """
        return self.require(
            self.build_input(
                action=Action.PUSH_RECORD,
                purpose=PUSH_PURPOSE,
                requester=requester or Requester(sender),
                classes=classes,
                kind=kind,
                source_org=sender.org.org_id,
            ),
            channel,
        )

    def require_manage_consent(
        self, sender: Sender, scope: Iterable[str] = (DataClass.PHI.value,)
    ) -> Decision:
        """CONSENT-MANAGE: recording, changing, reading or revoking consents."""
        return self.require(
            self.build_input(
                action=Action.MANAGE_CONSENT,
                purpose=PurposeOfUse.TREAT,
                requester=Requester(sender),
                classes=scope,
                kind="consent",
            ),
            Channel.CONSENT,
        )
