"""The in-process adapter: regopy (Microsoft's rego-cpp), compiled once, evaluated by entrypoint.

The bundle is built once at start (`Interpreter.build`); each decision sets the input and
queries the entrypoint, never re-parsing the policies (docs: shared reference/rego-notes.md).
One interpreter holds one input at a time, so the engine keeps a pool of them (each compiled
from the same bundle) and lends one per evaluation. rego-cpp runs outside the GIL (ctypes
releases it), so with one interpreter per core, decisions proceed in parallel with each other
and with the request's Python work.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Mapping
from typing import Any

import regopy

from policies.bundle import EXPLAIN_ENTRYPOINT, FLAGS_ENTRYPOINT, RESULT_ENTRYPOINT, PolicyBundle
from policies.decision import Decision
from policies.engine import BundleEngine
from policies.errors import PolicyLoadError, PolicyUnavailable
from policies.flags import DerivedFlag, read_derived


def compile_bundle(bundle: PolicyBundle) -> tuple[regopy.Interpreter, Any]:
    """Raises: PolicyLoadError naming the module that does not compile."""
    interpreter = regopy.Interpreter()
    for module in bundle.modules:
        try:
            interpreter.add_module(module.name, module.text)
        except regopy.RegoError:
            raise PolicyLoadError(f"{module.name}: does not parse as Rego v1") from None
    try:
        compiled = interpreter.build(None, [RESULT_ENTRYPOINT, EXPLAIN_ENTRYPOINT, FLAGS_ENTRYPOINT])
    except regopy.RegoError:
        raise PolicyLoadError("the policy bundle does not compile") from None
    if not compiled.ok():
        raise PolicyLoadError("the policy bundle does not compile")
    return interpreter, compiled


def output_value(output: Any) -> object:
    """The single value of a regopy Output. Raises: PolicyUnavailable (error or undefined)."""
    if not output.ok():
        raise PolicyUnavailable("the policy evaluation failed")
    text = str(output)
    if text == "undefined":
        raise PolicyUnavailable("the policy decision is undefined")
    expressions = json.loads(text).get("expressions") or [None]
    return expressions[0]


def _as_term(document: Mapping[str, Any]) -> str | None:
    """The input as one JSON text for `set_input_term`, or None when it holds a backslash.

    `set_input(dict)` converts the input value by value, a ctypes call each: hundreds per
    decision, each giving up the GIL and waiting to get it back while other threads run, all
    while an interpreter is held. One JSON text is one call. rego-cpp's term parser keeps
    string escapes as written (`\\n` stays two characters, `\\u00e9` six), so a text with any
    escape — a backslash anywhere — goes value by value instead, and everything else is written
    with its characters as they are (`ensure_ascii=False`).

    Raises: TypeError or ValueError (not JSON-encodable).
    """
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return None if "\\" in text else text


class RegoEngine(BundleEngine):
    def __init__(self, bundle: PolicyBundle, *, interpreters: int = 1) -> None:
        super().__init__(bundle)
        self.interpreters = max(1, interpreters)
        self._pool: queue.SimpleQueue[tuple[regopy.Interpreter, Any]] = queue.SimpleQueue()
        for _ in range(self.interpreters):
            self._pool.put(compile_bundle(bundle))

    def decide(self, decision_input: Mapping[str, Any]) -> Decision:
        return self._evaluate(decision_input, RESULT_ENTRYPOINT)

    def explain(self, decision_input: Mapping[str, Any]) -> Decision:
        return self._evaluate(decision_input, EXPLAIN_ENTRYPOINT)

    def derive_flags(self, derivation_input: Mapping[str, Any]) -> list[DerivedFlag]:
        return read_derived(self._value(derivation_input, FLAGS_ENTRYPOINT))

    def _evaluate(self, decision_input: Mapping[str, Any], entrypoint: str) -> Decision:
        value = self._value(decision_input, entrypoint)
        return Decision.from_result(value, catalog=self._catalog, policy_version=self._version)

    def _value(self, document: Mapping[str, Any], entrypoint: str) -> object:
        try:
            term = _as_term(document)  # before taking an interpreter: Python work, under the GIL
        except (TypeError, ValueError):
            raise PolicyUnavailable("the policy evaluation failed") from None
        interpreter, compiled = self._pool.get()  # waits while every interpreter is busy
        try:
            if term is not None:
                interpreter.set_input_term(term)  # one call, parsed outside the GIL
            else:
                interpreter.set_input(dict(document))
            output = interpreter.query_bundle_entrypoint(compiled, entrypoint)
            return output_value(output)
        except (regopy.RegoError, TypeError, ValueError):
            raise PolicyUnavailable("the policy evaluation failed") from None
        finally:
            self._pool.put((interpreter, compiled))

    def close(self) -> None:
        return None
