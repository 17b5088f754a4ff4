"""Every `policies/*_test.rego` test, each reported as a pytest test (run by `make test`)."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.policies.rego_runner import rego_test_names

POLICIES = Path(__file__).resolve().parents[2] / "policies"
SUITES = sorted(POLICIES.glob("*_test.rego"))
CASES = [(suite, name) for suite in SUITES for name in rego_test_names(suite.read_text())]


@cache
def results(suite: Path) -> dict[str, bool] | str:
    run = subprocess.run(
        [sys.executable, "-m", "tests.policies.rego_runner", str(suite)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=POLICIES.parent,
        check=False,
    )
    if run.returncode != 0:
        return f"the Rego runner exited with {run.returncode}: {run.stderr[-500:]}"
    found: dict[str, bool] = json.loads(run.stdout)
    return found


def test_every_rule_family_has_a_suite() -> None:
    families = {path.stem for path in POLICIES.glob("*.rego") if not path.stem.endswith("_test")}
    tested = {suite.stem.removesuffix("_test") for suite in SUITES}
    assert families - tested <= {"common"}  # common.rego is read through every other suite


@pytest.mark.parametrize(("suite", "name"), CASES, ids=[f"{s.name}::{n}" for s, n in CASES])
def test_rego(suite: Path, name: str) -> None:
    outcome = results(suite)
    assert isinstance(outcome, dict), outcome
    assert outcome[name] is True, f"{suite.name}: {name} failed"
