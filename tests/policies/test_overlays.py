"""STATE-OVERLAY: a county's stricter rules as extra Rego modules, which can add denials and
obligations and never a permit."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.engine import build_engine
from policies.errors import PolicyLoadError
from policies.inprocess import RegoEngine
from tests.policies.scenario_table import SCENARIOS


def _overlay(tmp_path: Path, text: str, name: str = "state.rego") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_an_overlay_adds_a_denial_with_its_own_reason(
    strict_engine: RegoEngine, rego_engine: RegoEngine
) -> None:
    scenario = next(
        s for s in SCENARIOS if s.name == "consent: a consent naming police as a class permits flags"
    )
    assert rego_engine.decide(scenario.decision_input).permitted
    decision = strict_engine.decide(scenario.decision_input)
    assert decision.decision == "deny"
    assert {"STATE-EX-MH-1", "STATE-OVERLAY"} <= set(decision.codes)
    assert "RECORD_ACCOUNTING" in decision.obligations


def test_an_overlay_changes_the_policy_version(strict_engine: RegoEngine, rego_engine: RegoEngine) -> None:
    assert strict_engine.version != rego_engine.version


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_an_overlay_never_turns_a_deny_into_a_permit_nor_drops_an_obligation(
    strict_engine: RegoEngine, rego_engine: RegoEngine, scenario: object
) -> None:
    base = rego_engine.decide(scenario.decision_input)  # type: ignore[attr-defined]
    strict = strict_engine.decide(scenario.decision_input)  # type: ignore[attr-defined]
    assert not (base.decision == "deny" and strict.decision == "permit")
    assert set(base.obligations) <= set(strict.obligations)


@pytest.mark.parametrize(
    "package",
    ["consent_gateway.decision", "consent_gateway.hipaa", "consent_gateway.overlay", "county.rules"],
)
def test_an_overlay_outside_its_namespace_is_refused(tmp_path: Path, package: str) -> None:
    text = f"package {package}\n\nimport rego.v1\n\npermitted if true\n"
    with pytest.raises(PolicyLoadError, match="overlay package"):
        build_engine(overlay_dirs=(_overlay(tmp_path, text),))


def test_an_overlay_must_be_rego_v1(tmp_path: Path) -> None:
    text = "package consent_gateway.overlay.old\n\ndeny[msg] { msg := 1 }\n"
    with pytest.raises(PolicyLoadError, match=r"import rego\.v1"):
        build_engine(overlay_dirs=(_overlay(tmp_path, text),))


def test_an_overlay_that_does_not_parse_is_refused_at_start(tmp_path: Path) -> None:
    text = "package consent_gateway.overlay.broken\n\nimport rego.v1\n\ndeny contains x if {\n"
    with pytest.raises(PolicyLoadError, match=r"overlay/state\.rego"):
        build_engine(overlay_dirs=(_overlay(tmp_path, text),))


def test_a_missing_overlay_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="does not exist"):
        build_engine(overlay_dirs=(tmp_path / "nowhere",))
