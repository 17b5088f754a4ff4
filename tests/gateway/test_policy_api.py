"""Policy administration over HTTP and the CLI, and the engine deciding pushes end to end."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import pytest

from tests.builders.hl7 import Person, adt
from tests.conftest import Installation, Server, register_sender
from tests.policies.scenario_table import SCENARIOS

ALEX = Person(mrn="MRN-7", family="Roe", given="Alex", birth_date=date(1990, 4, 1))
POLICE_PULL = next(
    s for s in SCENARIOS if s.name == "consent: a consent naming police as a class permits flags"
)


def _admin_token(installation: Installation, org_id: str) -> str:
    installation.cli_ok("client", "add", f"{org_id}-admin", "--org", org_id, "--role", "admin")
    return installation.cli_ok("token", "issue", f"{org_id}-admin").strip()


def test_an_admin_evaluates_a_decision_input_with_reasons(server: Server, upgraded: Installation) -> None:
    register_sender(upgraded, "st-marys")
    token = _admin_token(upgraded, "st-marys")
    answer = httpx.post(
        f"{server.base_url}/decisions/$evaluate",
        json=POLICE_PULL.decision_input,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["decision"] == "permit"
    assert body["obligations"] == ["MINIMUM_NECESSARY_FLAGS_ONLY"]
    assert {"HIPAA-AUTH-508", "GW-LE-FLAGS-ONLY"} <= {r["code"] for r in body["reasons"]}
    assert all(r["citation"] for r in body["reasons"])
    assert body["policy_version"].startswith("sha256:")
    assert "fired" not in body
    explained = httpx.post(
        f"{server.base_url}/decisions/$evaluate?explain=full",
        json=POLICE_PULL.decision_input,
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert {"rule": "HIPAA-AUTH-508", "class": "phi", "effect": "grant"} in explained["fired"]


def test_only_admins_evaluate(server: Server, upgraded: Installation) -> None:
    hospital = register_sender(upgraded, "st-marys")
    answer = httpx.post(
        f"{server.base_url}/decisions/$evaluate",
        json=POLICE_PULL.decision_input,
        headers={"Authorization": f"Bearer {hospital.token}"},
    )
    assert answer.status_code == 403
    assert "permit" not in answer.text


def test_policies_lists_the_version_modules_and_rules(server: Server, upgraded: Installation) -> None:
    hospital = register_sender(upgraded, "st-marys")
    body = httpx.get(
        f"{server.base_url}/policies", headers={"Authorization": f"Bearer {hospital.token}"}
    ).json()
    assert body["adapter"] == "in_process"
    assert body["policy_version"].startswith("sha256:")
    assert {m["name"] for m in body["modules"]} >= {"policies/decision.rego", "policies/part2.rego"}
    codes = {r["code"]: r for r in body["rules"]}
    assert codes["HIPAA-THREAT-512J"]["citation"] == "45 CFR 164.512(j)(1)(i), (j)(4)"
    assert "ATTACH_P2_NOTICE" in body["obligations"]


def test_police_cannot_push_health_records(server: Server, upgraded: Installation) -> None:
    police = register_sender(upgraded, "pd-springfield", org_type="police")
    answer = httpx.post(
        f"{server.base_url}/fhir/r4/Patient",
        json={"resourceType": "Patient", "id": "x", "identifier": [{"system": "urn:x", "value": "1"}]},
        headers={"Authorization": f"Bearer {police.token}", "Content-Type": "application/fhir+json"},
    )
    assert answer.status_code == 403
    assert "PUSH-INGEST" in answer.text
    ack = httpx.post(
        f"{server.base_url}/hl7v2",
        content=adt(ALEX).encode(),
        headers=police.auth,
    )
    assert "MSA|AR" in ack.text
    assert "PUSH-INGEST" in ack.text


def test_an_agreement_stops_access_on_the_day_after_it_ends(server: Server, upgraded: Installation) -> None:
    ended = register_sender(
        upgraded, "old-clinic", org_type="clinic", agreements=("baa:2025-01-01:2025-12-31",)
    )
    answer = httpx.post(
        f"{server.base_url}/hl7v2",
        content=adt(ALEX).encode(),
        headers=ended.auth,
    )
    assert "MSA|AR" in answer.text
    assert "business associate agreement" in answer.text


@pytest.mark.parametrize(("scenario_name", "exit_code"), [(POLICE_PULL.name, 0), ("consent: revoked", 1)])
def test_policy_eval_offline(
    upgraded: Installation, tmp_path: Path, scenario_name: str, exit_code: int
) -> None:
    scenario = next(s for s in SCENARIOS if s.name == scenario_name)
    path = tmp_path / "input.json"
    path.write_text(json.dumps(scenario.decision_input))
    result = upgraded.cli("policy", "eval", str(path), "--explain")
    assert result.returncode == exit_code, result.stderr
    body = json.loads(result.stdout)
    assert body["decision"] == scenario.expect["decision"]
    assert body["fired"]


def test_policy_eval_rejects_what_is_not_json(upgraded: Installation, tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text("not json")
    result = upgraded.cli("policy", "eval", str(path))
    assert result.returncode == 2
    assert "is not JSON" in result.stderr
