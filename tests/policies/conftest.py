"""Engines for the policy tests: the in-process adapter, and the OPA adapter against the
OPA-protocol server. Each is built once per session (compiling the bundle costs ~1 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from policies.bundle import load_bundle
from policies.engine import PolicyEngine
from policies.inprocess import RegoEngine
from policies.opa import OpaEngine
from tests.policies.opa_protocol import OpaProtocolServer
from tests.policies.overlay_example import STATE_MH


@pytest.fixture(scope="session")
def opa_server() -> Iterator[OpaProtocolServer]:
    server = OpaProtocolServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rego_engine() -> RegoEngine:
    return RegoEngine(load_bundle())


@pytest.fixture(scope="session")
def opa_engine(opa_server: OpaProtocolServer) -> Iterator[OpaEngine]:
    engine = OpaEngine(load_bundle(), opa_server.url)
    yield engine
    engine.close()


@pytest.fixture(params=["in_process", "opa"])
def engine(request: pytest.FixtureRequest) -> PolicyEngine:
    name = "rego_engine" if request.param == "in_process" else "opa_engine"
    found: PolicyEngine = request.getfixturevalue(name)
    return found


@pytest.fixture(scope="session")
def strict_engine(tmp_path_factory: pytest.TempPathFactory) -> RegoEngine:
    directory = tmp_path_factory.mktemp("overlay")
    (directory / "state.rego").write_text(STATE_MH)
    return RegoEngine(load_bundle([directory]))
