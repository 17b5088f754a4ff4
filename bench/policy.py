"""Policy decision latency: in process (regopy) and through the OPA REST protocol.

Prints figures; asserts nothing. Inputs are the scenario table's, each with a distinct `now` so
the decision cache cannot answer (the cold figure); the warm figure repeats identical inputs.
The engine floor shows what rego-cpp costs before any of our rules runs: a query of a constant,
without and with our decision input, in a one-rule bundle and in ours.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import regopy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policies.bundle import PolicyBundle, load_bundle
from policies.cache import CachedEngine
from policies.engine import PolicyEngine
from policies.inprocess import RegoEngine
from policies.opa import OpaEngine
from tests.policies.opa_protocol import OpaProtocolServer
from tests.policies.scenario_table import SCENARIOS

ROUNDS = 20


def inputs(rounds: int) -> list[dict[str, object]]:
    found = []
    for n in range(rounds):
        for scenario in SCENARIOS:
            stamped = dict(scenario.decision_input)
            stamped["context"] = dict(scenario.decision_input["context"]) | {  # type: ignore[arg-type]
                "now": f"2026-11-23T10:{n // 60:02d}:{n % 60:02d}Z"
            }
            found.append(stamped)
    return found


def measure(name: str, engine: PolicyEngine, batch: list[dict[str, object]]) -> None:
    for decision_input in batch[:50]:
        engine.decide(decision_input)
    latencies = []
    started = time.perf_counter()
    for decision_input in batch:
        t = time.perf_counter()
        engine.decide(decision_input)
        latencies.append((time.perf_counter() - t) * 1e6)
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"{name:<34} p50 {statistics.median(latencies):8.0f} µs   p99 {p99:8.0f} µs   "
        f"{len(batch) / elapsed:8.0f} decisions/s   ({len(batch)} decisions)"
    )


def throughput(name: str, engine: PolicyEngine, batch: list[dict[str, object]], threads: int) -> None:
    """Decisions/s with `threads` threads sharing the engine (its interpreters, outside the GIL)."""
    parts = [batch[k::threads] for k in range(threads)]

    def decide_all(part: list[dict[str, object]]) -> None:
        for decision_input in part:
            engine.decide(decision_input)

    workers = [threading.Thread(target=decide_all, args=(part,)) for part in parts]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    rate = len(batch) / (time.perf_counter() - started)
    print(f"{name:<34} {rate:8.0f} decisions/s   ({len(batch)} decisions)")


PROBE = ("probe.rego", "package probe\nimport rego.v1\n\nanswer := 1\n")


def engine_floor(bundle: PolicyBundle) -> None:
    """p50 of querying a constant through regopy, the cheapest query there is."""
    documents = [dict(s.decision_input) for s in SCENARIOS]
    texts = [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in documents]
    ours = [*((m.name, m.text) for m in bundle.modules), PROBE]
    for label, modules, handing in (
        ("one-rule bundle, no input", [PROBE], None),
        ("one-rule bundle, input as JSON", [PROBE], "text"),
        ("one-rule bundle, input as values", [PROBE], "values"),
        ("our bundle, input as JSON", ours, "text"),
    ):
        interpreter = regopy.Interpreter()
        for name, text in modules:
            interpreter.add_module(name, text)
        built = interpreter.build(None, ["probe/answer"])
        latencies = []
        for _ in range(5):
            for document, text in zip(documents, texts, strict=True):
                started = time.perf_counter()
                if handing == "text":
                    interpreter.set_input_term(text)  # as RegoEngine hands it (see _as_term)
                elif handing == "values":
                    interpreter.set_input(regopy.Input(document))
                str(interpreter.query_bundle_entrypoint(built, "probe/answer"))
                latencies.append((time.perf_counter() - started) * 1e6)
        print(f"floor: constant query, {label:<33} p50 {statistics.median(latencies):8.0f} µs")
    print(f"floor: decision input {sum(map(len, texts)) // len(texts)} bytes of JSON on average")


def main() -> None:
    bundle = load_bundle()
    in_process = RegoEngine(bundle)
    cold = inputs(ROUNDS)
    print(f"policy bundle {bundle.version[:19]}…, {len(SCENARIOS)} scenario inputs")
    measure("in-process, uncached", in_process, cold)
    cores = len(os.sched_getaffinity(0))
    pooled = RegoEngine(bundle, interpreters=cores)
    throughput(
        f"in-process, {cores} threads, {cores} interpreters",
        pooled,
        inputs(ROUNDS + 1)[len(cold) :] + cold,
        cores,
    )
    cached = CachedEngine(in_process)
    warm = [SCENARIOS[i % len(SCENARIOS)].decision_input for i in range(len(cold))]
    for decision_input in warm:
        cached.decide(decision_input)
    measure("in-process, decision cache warm", cached, warm)
    server = OpaProtocolServer().start()
    try:
        opa = OpaEngine(bundle, server.url)
        measure("OPA REST protocol (regopy server)", opa, cold[: len(SCENARIOS) * 3])
        opa.close()
    finally:
        server.stop()
    engine_floor(bundle)


if __name__ == "__main__":
    main()
