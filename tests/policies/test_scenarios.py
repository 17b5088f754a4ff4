"""The scenario table (scenarios.json) on both adapters, which must agree exactly."""

from __future__ import annotations

import threading

import pytest

from policies.bundle import load_bundle
from policies.catalog import load_catalog
from policies.engine import PolicyEngine
from policies.inprocess import RegoEngine, _as_term
from policies.opa import OpaEngine
from tests.policies.scenario_table import SCENARIOS, TABLE, Scenario


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(engine: PolicyEngine, scenario: Scenario) -> None:
    decision = engine.decide(scenario.decision_input)
    expect = scenario.expect
    assert decision.decision == expect["decision"]
    assert sorted(decision.obligations) == sorted(expect["obligations"])
    assert set(expect["reasons"]) <= set(decision.codes)
    assert not set(expect.get("absent", [])) & (set(decision.codes) | set(decision.obligations))
    assert decision.policy_version == engine.version
    for reason in decision.reasons:
        assert reason.citation
        assert reason.text


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_adapters_agree_exactly(rego_engine: RegoEngine, opa_engine: OpaEngine, scenario: Scenario) -> None:
    assert rego_engine.decide(scenario.decision_input) == opa_engine.decide(scenario.decision_input)
    assert rego_engine.explain(scenario.decision_input) == opa_engine.explain(scenario.decision_input)


def test_table_is_big_enough_and_covers_every_rule_the_engine_decides() -> None:
    assert len(TABLE["scenarios"]) >= 40
    named = {code for entry in TABLE["scenarios"] for code in entry["expect"]["reasons"]}
    engine_rules = {rule.code for rule in load_catalog().rules if rule.enforced_by == "engine"}
    # STATE-OVERLAY is exercised by test_overlays.py (it needs an overlay module).
    assert engine_rules - named == {"STATE-OVERLAY"}


def test_every_rule_with_both_outcomes_has_a_permit_and_a_deny_case() -> None:
    by_outcome: dict[str, set[str]] = {"permit": set(), "deny": set()}
    for entry in TABLE["scenarios"]:
        by_outcome[entry["expect"]["decision"]].update(entry["expect"]["reasons"])
    # Rules that can only deny, or only ever accompany a permit, by their nature.
    deny_only = {
        "DEFAULT-DENY",
        "CONSENT-MISSING",
        "CONSENT-REVOKED",
        "CONSENT-EXPIRED",
        "CONSENT-NOT-EXECUTED",
        "CONSENT-RECIPIENT",
        "CONSENT-PURPOSE",
        "HIPAA-LE-512F",
        "HIPAA-PATIENT-ACCESS-524",
        "CJIS-ADDENDUM",
        "CJIS-TRAINING",
        "CJIS-SCREENING",
        "CJIS-MFA",
        "P2-NO-USE-AGAINST-PATIENT-212D",
        "P2-REDISCLOSURE",
    }
    permit_only = {
        "CONSENT-SCOPE",
        "HIPAA-MIN-NEC",
        "HIPAA-ACCOUNTING",
        "P2-TPO-233",
        "P2-NOTICE-232",
        "CJIS-AUDIT",
        "HIPAA-THREAT-512J",
        "P2-ACCOUNTING",
    }
    both = (by_outcome["permit"] | by_outcome["deny"]) - deny_only - permit_only
    missing = {code for code in both if not (code in by_outcome["permit"] and code in by_outcome["deny"])}
    assert missing == set()


def test_a_pool_of_interpreters_decides_the_table_from_many_threads_as_one_does(
    rego_engine: RegoEngine,
) -> None:
    """rego-cpp runs outside the GIL: threads share a pool of interpreters and must get exactly
    the decisions one interpreter gives, whatever interleaving happens."""
    pooled = RegoEngine(load_bundle(), interpreters=3)
    expected = [rego_engine.decide(s.decision_input) for s in SCENARIOS]
    results: dict[int, list[object]] = {}

    def decide_all(worker: int) -> None:
        results[worker] = [pooled.decide(s.decision_input) for _ in range(5) for s in SCENARIOS]

    threads = [threading.Thread(target=decide_all, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(6))
    for decisions in results.values():
        assert decisions == expected * 5


def test_an_evaluation_does_not_wait_for_a_busy_interpreter_while_another_is_free() -> None:
    pooled = RegoEngine(load_bundle(), interpreters=2)
    lent = pooled._pool.get()  # one interpreter busy (as in another thread's evaluation)
    decided: list[str] = []
    evaluation = threading.Thread(
        target=lambda: decided.append(pooled.decide(SCENARIOS[0].decision_input).decision)
    )
    evaluation.start()
    evaluation.join(timeout=30)  # a liveness bound, not a speed target: it must not block at all
    finished_while_lent = not evaluation.is_alive()
    pooled._pool.put(lent)
    evaluation.join()
    assert finished_while_lent
    assert decided == [SCENARIOS[0].expect["decision"]]
    assert pooled.interpreters == 2


def test_an_input_with_escapes_is_decided_as_one_without(rego_engine: RegoEngine) -> None:
    """Inputs with a backslash take the value-by-value path (see _as_term); the decision is
    the same as for the same input written without escapes, on both paths."""
    assert _as_term({"a": "x\\y"}) is None
    assert _as_term({"a": "caf\u00e9"}) == '{"a":"caf\u00e9"}'
    for scenario in SCENARIOS[:20]:
        plain = rego_engine.decide(scenario.decision_input)
        escaped = dict(scenario.decision_input) | {"note": 'line one\nline "two" \\ caf\u00e9'}
        assert _as_term(escaped) is None
        assert rego_engine.decide(escaped).decision == plain.decision
