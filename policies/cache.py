"""A decision cache keyed by the policy version and the whole input, nothing less.

A hit returns exactly what the engine returned for an identical input under the identical
policy version, so it cannot change a decision; a new bundle (new version) never sees old
entries. The gateway's inputs carry `context.now` at whole-second resolution, so bursts of
identical requests (an interface engine's batch) hit and anything else misses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson

from policies.bundle import PolicyBundle
from policies.catalog import Catalog
from policies.decision import Decision
from policies.engine import PolicyEngine
from policies.flags import DerivedFlag

_KEY_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def cache_key(version: str, decision_input: Mapping[str, Any]) -> bytes:
    """The version and the whole input, keys sorted (orjson: 0.9 µs for a push decision's
    input, against 6.5 µs with the standard library's encoder)."""
    return version.encode() + b"\n" + orjson.dumps(decision_input, option=_KEY_OPTIONS, default=str)


class CachedEngine:
    def __init__(self, engine: PolicyEngine, *, size: int = 4096) -> None:
        self._engine = engine
        self._size = size
        self._entries: OrderedDict[bytes, Decision] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def bundle(self) -> PolicyBundle:
        return self._engine.bundle

    @property
    def catalog(self) -> Catalog:
        return self._engine.catalog

    @property
    def version(self) -> str:
        return self._engine.version

    def decide(self, decision_input: Mapping[str, Any]) -> Decision:
        try:
            key = cache_key(self._engine.version, decision_input)
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: decided, not cached
            return self._engine.decide(decision_input)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
        decision = self._engine.decide(decision_input)
        with self._lock:
            self.misses += 1
            self._entries[key] = decision
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return decision

    def explain(self, decision_input: Mapping[str, Any]) -> Decision:
        return self._engine.explain(decision_input)

    def derive_flags(self, derivation_input: Mapping[str, Any]) -> list[DerivedFlag]:
        return self._engine.derive_flags(derivation_input)

    def close(self) -> None:
        self._engine.close()
