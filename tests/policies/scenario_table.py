"""Expand tests/policies/scenarios.json into decision inputs (DESIGN.md 7)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE = json.loads((Path(__file__).parent / "scenarios.json").read_text())
NOW = "2026-11-23T10:00:00Z"


@dataclass(frozen=True)
class Scenario:
    name: str
    decision_input: dict[str, Any]
    expect: dict[str, Any]


def expand(entry: dict[str, Any]) -> Scenario:
    requester = copy.deepcopy(TABLE["requesters"][entry["requester"]])
    requester.update(copy.deepcopy(entry.get("requester_patch", {})))
    decision_input = {
        "action": entry["action"],
        "purpose_of_use": entry["purpose"],
        "requester": requester,
        "subject": {"person_id": "person-1"},
        "resource": {
            "kind": "record",
            "data_classes": list(entry["classes"]),
            "source_org": entry.get("source_org", "st-marys"),
        },
        "consents": [copy.deepcopy(TABLE["consents"][name]) for name in entry.get("consents", [])],
        "context": {"emergency": False, "imminent_threat": False, "court_order": None, "break_glass": False}
        | {"now": NOW}
        | entry.get("context", {}),
    }
    return Scenario(name=entry["name"], decision_input=decision_input, expect=entry["expect"])


SCENARIOS = [expand(entry) for entry in TABLE["scenarios"]]
