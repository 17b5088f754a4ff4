"""The rule book as data (policies/catalog.json): code → citation, plain sentence, family.

Decisions carry codes; their citations and texts come from here, for both adapters alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from policies.errors import PolicyLoadError


@dataclass(frozen=True)
class Reason:
    """One rule named by a decision, as the decision contract shows it."""

    code: str
    citation: str
    text: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "citation": self.citation, "text": self.text}


@dataclass(frozen=True)
class Rule:
    code: str
    citation: str
    text: str
    family: str  # hipaa | part2 | cjis | consent | gateway
    enforced_by: str  # engine | ingest | startup | audit_log | manual

    def as_json(self) -> dict[str, str]:
        return {
            "code": self.code,
            "citation": self.citation,
            "text": self.text,
            "family": self.family,
            "enforced_by": self.enforced_by,
        }


@dataclass(frozen=True)
class Catalog:
    rules: tuple[Rule, ...]
    obligations: frozenset[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {rule.code: rule for rule in self.rules})

    def rule(self, code: str) -> Rule:
        """Raises: PolicyLoadError for a code the rule book does not have (a policy bug)."""
        found: Rule | None = self._by_code.get(code)  # type: ignore[attr-defined]
        if found is None:
            raise PolicyLoadError(f"the policy named rule {code!r}, which the catalog does not list")
        return found

    def reason(self, code: str) -> Reason:
        rule = self.rule(code)
        return Reason(code=rule.code, citation=rule.citation, text=rule.text)


def load_catalog() -> Catalog:
    text = resources.files("policies").joinpath("catalog.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return Catalog(
        rules=tuple(Rule(**entry) for entry in data["rules"]),
        obligations=frozenset(data["obligations"]),
    )
