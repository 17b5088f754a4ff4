"""Hypothesis: monotonicity properties of the decision over random inputs."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.inprocess import RegoEngine
from policies.vocabulary import Action, DataClass, OrgType, PurposeOfUse, Role

CLASSES = [c.value for c in DataClass]
ORG_IDS = ["st-marys", "pd-springfield", "crt-county"]

consents = st.fixed_dictionaries(
    {
        "id": st.text("abc", min_size=1, max_size=3),
        "status": st.sampled_from(["active", "revoked", "expired", "draft"]),
        "scope": st.lists(st.sampled_from(CLASSES), min_size=1, max_size=3, unique=True),
        "recipients": st.lists(st.sampled_from(ORG_IDS + [t.value for t in OrgType]), min_size=1, max_size=2),
        "purposes": st.lists(st.sampled_from([p.value for p in PurposeOfUse]), min_size=1, max_size=2),
        "part2_elements_complete": st.booleans(),
        "expires": st.sampled_from([None, "2026-11-23", "2027-01-01", "2026-11-23T09:00:00Z", "soon"]),
    }
)

inputs = st.fixed_dictionaries(
    {
        "action": st.sampled_from([a.value for a in Action]),
        "purpose_of_use": st.sampled_from([p.value for p in PurposeOfUse]),
        "requester": st.fixed_dictionaries(
            {
                "org_id": st.sampled_from(ORG_IDS),
                "org_type": st.sampled_from([t.value for t in OrgType]),
                "role": st.sampled_from([r.value for r in Role]),
                "cjis": st.fixed_dictionaries(
                    {
                        "security_addendum": st.booleans(),
                        "training_current": st.booleans(),
                        "background_check": st.booleans(),
                    }
                ),
                "auth": st.fixed_dictionaries({"mfa": st.booleans()}),
            }
        ),
        "subject": st.just({"person_id": "p-1"}),
        "resource": st.fixed_dictionaries(
            {
                "kind": st.just("record"),
                "data_classes": st.lists(st.sampled_from(CLASSES), max_size=4, unique=True),
                "source_org": st.sampled_from(ORG_IDS),
            }
        ),
        "consents": st.lists(consents, max_size=3),
        "context": st.fixed_dictionaries(
            {
                "emergency": st.booleans(),
                "imminent_threat": st.booleans(),
                "break_glass": st.booleans(),
                "court_order": st.sampled_from(
                    [
                        None,
                        {"type": "2.65", "issued": True},
                        {"type": "2.65", "issued": False},
                        {"type": "subpoena_only", "issued": True},
                    ]
                ),
                "now": st.just("2026-11-23T10:00:00Z"),
            }
        ),
    }
)

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(decision_input=inputs, data=st.data())
def test_removing_a_consent_never_turns_a_deny_into_a_permit(
    rego_engine: RegoEngine, decision_input: dict[str, Any], data: st.DataObject
) -> None:
    if not decision_input["consents"]:
        return
    index = data.draw(st.integers(0, len(decision_input["consents"]) - 1))
    fewer = decision_input | {"consents": [c for i, c in enumerate(decision_input["consents"]) if i != index]}
    if rego_engine.decide(decision_input).decision == "deny":
        assert rego_engine.decide(fewer).decision == "deny"


@SETTINGS
@given(decision_input=inputs)
def test_adding_break_glass_never_removes_an_obligation(
    rego_engine: RegoEngine, decision_input: dict[str, Any]
) -> None:
    without = decision_input | {"context": decision_input["context"] | {"break_glass": False}}
    with_glass = decision_input | {"context": decision_input["context"] | {"break_glass": True}}
    assert set(rego_engine.decide(without).obligations) <= set(rego_engine.decide(with_glass).obligations)


@SETTINGS
@given(decision_input=inputs)
def test_an_overlay_never_turns_a_deny_into_a_permit(
    rego_engine: RegoEngine, strict_engine: RegoEngine, decision_input: dict[str, Any]
) -> None:
    if rego_engine.decide(decision_input).decision == "deny":
        assert strict_engine.decide(decision_input).decision == "deny"


@SETTINGS
@given(decision_input=inputs)
def test_every_decision_names_a_reason_with_a_citation(
    rego_engine: RegoEngine, decision_input: dict[str, Any]
) -> None:
    decision = rego_engine.decide(decision_input)
    assert decision.reasons
    assert all(reason.citation for reason in decision.reasons)
