"""Flag derivation (policies/flags.rego) through both adapters, and the reader that keeps any
answer outside the vocabulary from reaching an officer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.engine import PolicyEngine
from policies.errors import PolicyUnavailable
from policies.flags import read_derived
from policies.inprocess import RegoEngine
from policies.opa import OpaEngine
from policies.vocabulary import FlagCode

DAY = 86_400 * 10**9
NOW = int(datetime(2026, 11, 23, 10, tzinfo=UTC).timestamp()) * 10**9
KINDS = ["encounter", "crisis_plan", "care_team", "flag", "incident", "condition"]


def record(i: int, kind: str, days_ago: float, **facts: Any) -> dict[str, Any]:
    return {
        "id": f"r{i}",
        "kind": kind,
        "data_classes": ["phi"],
        "started_ns": NOW - int(days_ago * DAY),
        "period_end_ns": facts.pop("period_end_ns", None),
        "facts": facts,
    }


def test_both_adapters_derive_the_same_flags(engine: PolicyEngine) -> None:
    derived = engine.derive_flags(
        {
            "now_ns": NOW,
            "records": [
                record(1, "encounter", 3, crisis=True),
                record(2, "crisis_plan", 40, status="active", period_end_ns=NOW + 100 * DAY),
                record(3, "flag", 1, status="active", flag_code="medical-alert-contact-ems"),
            ],
        }
    )
    assert [(f.code.value, f.source, f.rule) for f in derived] == [
        ("coresponder-recommended", "r1", "FLAG-CRISIS-ENCOUNTER"),
        ("crisis-plan-on-file", "r2", "FLAG-CRISIS-PLAN"),
        ("medical-alert-contact-ems", "r3", "FLAG-PUSHED"),
        ("recent-crisis-contact", "r1", "FLAG-CRISIS-ENCOUNTER"),
    ]
    assert all(f.expires.weekday() == 0 and f.expires.hour == 0 for f in derived)


records_strategy = st.lists(
    st.builds(
        record,
        i=st.integers(0, 50),
        kind=st.sampled_from(KINDS),
        days_ago=st.floats(-10, 400),
        crisis=st.booleans(),
        status=st.sampled_from([None, "active", "inactive", "entered-in-error", "revoked"]),
        has_contact=st.booleans(),
        flag_code=st.sampled_from([None, "coresponder-recommended", "diagnosis-f20", "check-with-clinician"]),
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(records=records_strategy)
def test_adapters_agree_on_any_records_and_every_flag_is_in_the_vocabulary_and_live(
    rego_engine: RegoEngine, opa_engine: OpaEngine, records: list[dict[str, Any]]
) -> None:
    document = {"now_ns": NOW, "records": records}
    in_process = rego_engine.derive_flags(document)
    assert in_process == opa_engine.derive_flags(document)
    sources = {r["id"] for r in records if r["kind"] != "incident"}
    for flag in in_process:
        assert flag.code in FlagCode
        assert flag.source in sources
        assert flag.expires > datetime.fromtimestamp(NOW // 10**9, UTC)


@pytest.mark.parametrize(
    "result",
    [
        "flags",
        [{"code": "diagnosis-f20", "source": "r1", "rule": "X", "expires_ns": NOW}],
        [{"code": "crisis-plan-on-file", "source": 1, "rule": "X", "expires_ns": NOW}],
        [{"code": "crisis-plan-on-file", "source": "r1", "rule": "X", "expires_ns": "soon"}],
        ["crisis-plan-on-file"],
    ],
)
def test_an_answer_outside_the_vocabulary_fails_closed(result: object) -> None:
    with pytest.raises(PolicyUnavailable):
        read_derived(result)
