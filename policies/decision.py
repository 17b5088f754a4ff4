"""What the engine answers (DESIGN.md 7): a decision with obligations, reasons and the version.

Both adapters return the raw result of `data.consent_gateway.decision.result` (codes only);
`Decision.from_result` turns it into this type the same way for both, adding each code's
citation and text from the catalog, so the adapters cannot drift apart in what they report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from policies.catalog import Catalog, Reason
from policies.errors import PolicyUnavailable


@dataclass(frozen=True)
class Decision:
    decision: Literal["permit", "deny"]
    obligations: tuple[str, ...]
    reasons: tuple[Reason, ...]
    policy_version: str
    fired: tuple[Mapping[str, str], ...] | None = None  # only when explained
    problems: tuple[str, ...] = field(default=())  # what made the input malformed (explained)
    unfulfilled: tuple[str, ...] = field(default=())  # obligations the gateway could not fulfil

    @property
    def permitted(self) -> bool:
        return self.decision == "permit"

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.code for reason in self.reasons)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "decision": self.decision,
            "obligations": list(self.obligations),
            "reasons": [reason.as_json() for reason in self.reasons],
            "policy_version": self.policy_version,
        }
        if self.unfulfilled:
            body["unfulfilled_obligations"] = list(self.unfulfilled)
        if self.fired is not None:
            body["fired"] = [dict(entry) for entry in self.fired]
            body["problems"] = list(self.problems)
        return body

    @classmethod
    def from_result(cls, result: object, *, catalog: Catalog, policy_version: str) -> Decision:
        """Read the Rego result; anything unexpected fails closed.

        Raises:
            PolicyUnavailable: the result does not have the decision's shape.
        """
        if not isinstance(result, Mapping) or result.get("decision") not in ("permit", "deny"):
            raise PolicyUnavailable("the policy returned no decision")
        codes = _strings(result.get("reason_codes"), "reason_codes")
        overlay = result.get("overlay_reasons") or []
        if not isinstance(overlay, Sequence):
            raise PolicyUnavailable("the policy returned malformed overlay reasons")
        reasons = [catalog.reason(code) for code in codes]
        reasons += [_overlay_reason(entry, catalog) for entry in overlay]
        fired = result.get("fired")
        return cls(
            decision=result["decision"],
            obligations=tuple(_strings(result.get("obligations"), "obligations")),
            reasons=tuple(reasons),
            policy_version=policy_version,
            fired=tuple(fired) if isinstance(fired, Sequence) else None,
            problems=tuple(_strings(result.get("problems") or [], "problems")),
        )


def _strings(value: object, name: str) -> list[str]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or not all(isinstance(v, str) for v in value)
    ):
        raise PolicyUnavailable(f"the policy returned malformed {name}")
    return list(value)


def _overlay_reason(entry: object, catalog: Catalog) -> Reason:
    if isinstance(entry, Mapping) and all(
        isinstance(entry.get(k), str) for k in ("code", "citation", "text")
    ):
        return Reason(code=entry["code"], citation=entry["citation"], text=entry["text"])
    return catalog.reason("STATE-OVERLAY")
