"""The decision cache (policies/cache.py) cannot change a decision: over random inputs it
answers exactly what the engine answers, first time and from the cache, and a different input or
policy version never hits another's entry."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from policies.cache import CachedEngine, cache_key
from policies.inprocess import RegoEngine
from tests.policies.test_properties import SETTINGS, inputs


@SETTINGS
@given(st.lists(inputs, min_size=1, max_size=4))
def test_cached_decisions_are_the_engines_decisions(
    rego_engine: RegoEngine, batch: list[dict[str, Any]]
) -> None:
    cached = CachedEngine(rego_engine, size=2)  # small, so entries are also evicted
    for decision_input in batch + batch:  # each input twice: a miss, then (if kept) a hit
        assert cached.decide(copy.deepcopy(decision_input)) == rego_engine.decide(decision_input)
    assert cached.hits + cached.misses == 2 * len(batch)


@SETTINGS
@given(inputs, inputs)
def test_keys_differ_exactly_when_inputs_or_versions_do(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert (cache_key("v1", a) == cache_key("v1", b)) == (a == b)
    assert cache_key("v1", a) != cache_key("v2", a)


def test_key_order_does_not_matter_and_a_repeat_is_a_hit(rego_engine: RegoEngine) -> None:
    decision_input = {"action": "PUSH_RECORD", "context": {"now": "2026-11-23T10:00:00Z", "emergency": False}}
    reordered = {"context": {"emergency": False, "now": "2026-11-23T10:00:00Z"}, "action": "PUSH_RECORD"}
    assert cache_key("v", decision_input) == cache_key("v", reordered)
    cached = CachedEngine(rego_engine)
    first = cached.decide(decision_input)
    assert cached.decide(reordered) == first
    assert (cached.misses, cached.hits) == (1, 1)
