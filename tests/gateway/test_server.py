"""The gateway on a real socket: operator endpoints, token checks, refusals to start."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from gateway.settings import load_settings
from gateway.store.database import create_db_engine, downgrade
from tests.conftest import CLI, Installation, Server, start_server, stop_server


def _register_officer(installation: Installation) -> None:
    installation.cli_ok(
        "org",
        "add",
        "pd-springfield",
        "--name",
        "Springfield PD",
        "--type",
        "police",
        "--cjis-agency",
    )
    installation.cli_ok("client", "add", "rms-springfield", "--org", "pd-springfield", "--role", "officer")


def test_operator_endpoints_answer(server: Server) -> None:
    assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "database": "ok",
        "schema": "current",
        "audit_log": "ok",
        "audit_receipts": "ok",
        "audit_witnesses": "none",
    }
    metadata = httpx.get(f"{server.base_url}/metadata")
    assert metadata.headers["content-type"].startswith("application/fhir+json")
    statement = CapabilityStatement.model_validate(metadata.json())
    assert statement.fhirVersion == "4.0.1"
    assert statement.rest[0].security.service[0].coding[0].code == "OAuth"
    flag = next(r for r in statement.rest[0].resource if r.type == "Flag")
    assert [i.code for i in flag.interaction] == ["create", "search-type"]
    assert {p.name for p in flag.searchParam} == {"subject:identifier", "family", "given", "birthdate"}
    assert httpx.get(f"{server.base_url}/docs").status_code == 200
    openapi = httpx.get(f"{server.base_url}/openapi.json").json()
    assert {"/healthz", "/readyz", "/metrics", "/metadata", "/whoami"} <= set(openapi["paths"])
    metrics = httpx.get(f"{server.base_url}/metrics").text
    assert 'cgw_http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in metrics
    assert 'route="/docs"' in metrics
    assert "\ncgw_audit_pending_records 0.0\n" in metrics  # nothing accepted yet
    assert "\ncgw_audit_oldest_pending_seconds 0.0\n" in metrics
    assert "\ncgw_audit_records_missing 0.0\n" in metrics
    jwks = httpx.get(f"{server.base_url}/.well-known/jwks.json").json()
    assert [k["kty"] for k in jwks["keys"]] == ["OKP"]
    assert "d" not in jwks["keys"][0], "only public keys are published"


def test_cli_token_is_accepted_and_bad_tokens_get_401_problem_details(
    server: Server, upgraded: Installation
) -> None:
    _register_officer(upgraded)
    token = upgraded.cli_ok("token", "issue", "rms-springfield", "--mfa").strip()
    me = httpx.get(f"{server.base_url}/whoami", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {
        "client_id": "rms-springfield",
        "subject": "rms-springfield",
        "org_id": "pd-springfield",
        "org_type": "police",
        "role": "officer",
        "mfa": True,
        "issuer": "urn:consent-gateway:embedded",
    }

    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    forged = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]}
    )
    now = int(datetime.now(UTC).timestamp())
    expired = upgraded.cli_ok("token", "issue", "rms-springfield", "--ttl", "60").strip()
    expired_claims = {
        **jwt.decode(expired, options={"verify_signature": False}),
        "iat": now - 900,
        "nbf": now - 900,
        "exp": now - 600,
    }
    cases = {
        "missing_token": None,
        "invalid_signature": forged,
        "malformed": "not-a-jwt",
        "expired": _resign(upgraded, expired_claims, header["kid"]),
        "invalid_audience": _resign(upgraded, {**claims, "aud": "another-api"}, header["kid"]),
        "unknown_client": _resign(upgraded, {**claims, "client_id": "ghost"}, header["kid"]),
    }
    for reason, bad in cases.items():
        headers = {} if bad is None else {"Authorization": f"Bearer {bad}"}
        answer = httpx.get(f"{server.base_url}/whoami?family=Canary", headers=headers)
        assert answer.status_code == 401, reason
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["reason"] == reason
        assert answer.json()["status"] == 401
        assert answer.headers["www-authenticate"].startswith('Bearer realm="consent-gateway"')
        assert ("invalid_token" in answer.headers["www-authenticate"]) is (reason != "missing_token")

    upgraded.cli_ok("client", "disable", "rms-springfield")
    refused = httpx.get(f"{server.base_url}/whoami", headers={"Authorization": f"Bearer {token}"})
    assert (refused.status_code, refused.json()["reason"]) == (401, "client_disabled")

    metrics = httpx.get(f"{server.base_url}/metrics").text
    assert 'cgw_auth_failures_total{reason="expired"} 1.0' in metrics
    log = server.log()
    assert "Canary" not in log, "query strings never reach the log"
    assert '"route": "/whoami"' in log


def _resign(installation: Installation, claims: dict[str, object], kid: str) -> str:
    """Sign claims with the installation's real embedded key (to vary one claim at a time)."""
    from gateway.keyring import load_keyring

    key = load_keyring(installation.keyring).signing_key(kid, "token")
    assert key is not None
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": kid})


def test_readiness_fails_when_the_schema_falls_behind(server: Server, upgraded: Installation) -> None:
    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    try:
        downgrade(engine, "base")
    finally:
        engine.dispose()
    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["schema"] == "outdated"
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


def test_serve_refuses_an_outdated_schema(installation: Installation) -> None:
    result = installation.cli("serve", "--port", "1")
    assert result.returncode == 2
    assert "schema is at revision none" in result.stderr
    assert "consent-gateway db upgrade" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CGW_DATABASE_URL", "oracle://scott:tiger@db/x", "CGW_DATABASE_URL"),
        ("CGW_PORT", "eighty", "CGW_PORT"),
        ("CGW_KEYRING", "/", "CGW_KEYRING"),
    ],
)
def test_serve_refuses_malformed_settings_naming_the_setting(
    upgraded: Installation, variable: str, value: str, named: str
) -> None:
    result = upgraded.cli("serve", **{variable: value})
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {named}")
    assert "tiger" not in result.stderr


def test_serve_refuses_an_unreachable_database(upgraded: Installation) -> None:
    result = upgraded.cli("serve", CGW_DATABASE_URL="postgresql+psycopg://u:pw-not-shown@127.0.0.1:9/db")
    assert result.returncode == 2
    assert result.stderr.startswith("error: CGW_DATABASE_URL: database unreachable")
    assert "pw-not-shown" not in result.stderr


def test_server_on_a_second_process_shares_the_database(upgraded: Installation) -> None:
    """Two gateway processes on one database (how replicas run) both authenticate the client."""
    _register_officer(upgraded)
    token = upgraded.cli_ok("token", "issue", "rms-springfield").strip()
    first, second = start_server(upgraded), start_server(upgraded)
    try:
        for running in (first, second):
            answer = httpx.get(f"{running.base_url}/whoami", headers={"Authorization": f"Bearer {token}"})
            assert answer.json()["org_id"] == "pd-springfield"
    finally:
        stop_server(first)
        stop_server(second)


def test_console_script_is_installed() -> None:
    result = subprocess.run([CLI, "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout.strip()[0].isdigit()
