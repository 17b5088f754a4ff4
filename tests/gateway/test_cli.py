"""The CLI: scriptable forms, one-line errors with exit 2, nothing half-written."""

from __future__ import annotations

import json
import stat

import jwt
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from tests.conftest import Installation

runner = CliRunner()


def _run(installation: Installation, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=installation.env())
    return result.exit_code, result.stdout, result.stderr


def test_scripted_setup_from_an_empty_database(installation: Installation) -> None:
    """The README's setup, through the real executable, as a county's script would run it."""
    assert "schema at" in installation.cli_ok("db", "upgrade")
    assert stat.S_IMODE(installation.keyring.stat().st_mode) == 0o600
    installation.cli_ok(
        "org",
        "add",
        "pd-springfield",
        "--name",
        "Springfield PD",
        "--type",
        "police",
        "--cjis-agency",
        "--agreement",
        "data_sharing_mou:2026-01-01",
        "--agreement",
        "cjis_security_addendum:2026-01-01:2030-12-31",
    )
    installation.cli_ok("client", "add", "rms-springfield", "--org", "pd-springfield", "--role", "officer")
    token = installation.cli_ok("token", "issue", "rms-springfield", "--mfa", "--ttl", "600")
    assert token.count("\n") == 1, "the token is alone on stdout"
    claims = jwt.decode(token.strip(), options={"verify_signature": False})
    assert claims["client_id"] == "rms-springfield"
    assert claims["amr"] == ["mfa"]
    assert claims["exp"] - claims["iat"] == 600
    orgs = json.loads(installation.cli_ok("org", "list", "--json"))
    assert [(o["org_id"], o["type"], o["cjis_agency"]) for o in orgs] == [("pd-springfield", "police", True)]
    assert {a["kind"] for a in orgs[0]["agreements"]} == {
        "data_sharing_mou",
        "cjis_security_addendum",
    }


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["org", "add", "x1", "--name", "X", "--type", "sheriff"], "unknown org type 'sheriff'"),
        (["org", "add", "X 1", "--name", "X", "--type", "police"], "org id must be"),
        (
            [
                "org",
                "add",
                "x1",
                "--name",
                "X",
                "--type",
                "hospital",
                "--agreement",
                "baa:2026-05-01:2026-01-01",
            ],
            "ends (2026-01-01) before it starts (2026-05-01)",
        ),
        (
            ["org", "add", "x1", "--name", "X", "--type", "hospital", "--agreement", "baa"],
            "not KIND:START",
        ),
        (
            ["client", "add", "c1", "--org", "missing-org", "--role", "officer"],
            "org 'missing-org' does not exist",
        ),
        (["client", "add", "c1", "--org", "pd", "--role", "sheriff"], "unknown role 'sheriff'"),
        (["token", "issue", "ghost"], "client 'ghost' does not exist"),
        (["org", "agreement", "missing-org", "baa:2026-01-01"], "org 'missing-org' does not exist"),
        (["personnel", "set", "jones", "--org", "pd", "--training", "last week"], "is not a date"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    upgraded: Installation, args: list[str], reason: str
) -> None:
    _run(upgraded, "org", "add", "pd", "--name", "PD", "--type", "police")
    code, stdout, stderr = _run(upgraded, *args)
    assert code == 2
    assert stderr.startswith("error: ")
    assert reason in stderr
    assert stderr.count("\n") == 1
    assert stdout == ""
    code, listing, _ = _run(upgraded, "org", "list", "--json")
    assert [o["org_id"] for o in json.loads(listing)] == ["pd"]
    assert json.loads(_run(upgraded, "client", "list", "--json")[1]) == []


def test_duplicate_org_exits_2_and_keeps_the_original(upgraded: Installation) -> None:
    assert _run(upgraded, "org", "add", "h1", "--name", "First", "--type", "hospital")[0] == 0
    code, _, stderr = _run(upgraded, "org", "add", "h1", "--name", "Second", "--type", "clinic")
    assert (code, stderr) == (2, "error: org 'h1' already exists\n")
    orgs = json.loads(_run(upgraded, "org", "list", "--json")[1])
    assert [(o["name"], o["type"]) for o in orgs] == [("First", "hospital")]


def test_disabled_client_gets_no_token(upgraded: Installation) -> None:
    _run(upgraded, "org", "add", "pd", "--name", "PD", "--type", "police")
    _run(upgraded, "client", "add", "rms", "--org", "pd", "--role", "dispatcher")
    assert _run(upgraded, "client", "disable", "rms")[0] == 0
    code, stdout, stderr = _run(upgraded, "token", "issue", "rms")
    assert (code, stdout) == (2, "")
    assert "disabled" in stderr


def test_ttl_beyond_the_configured_maximum_is_refused(upgraded: Installation) -> None:
    _run(upgraded, "org", "add", "pd", "--name", "PD", "--type", "police")
    _run(upgraded, "client", "add", "rms", "--org", "pd", "--role", "dispatcher")
    code, _, stderr = _run(upgraded, "token", "issue", "rms", "--ttl", "999999")
    assert code == 2
    assert "CGW_TOKEN_MAX_TTL" in stderr


def test_commands_on_an_unmigrated_database_say_to_upgrade(installation: Installation) -> None:
    code, _, stderr = _run(installation, "org", "list")
    assert code == 2
    assert "run `consent-gateway db upgrade`" in stderr


def test_bad_database_url_is_named(installation: Installation) -> None:
    result = runner.invoke(app, ["org", "list"], env=installation.env(CGW_DATABASE_URL="mysql://x@y/z"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: CGW_DATABASE_URL: unsupported driver")


def test_keys_rotate_adds_keys_and_lists_no_key_material(upgraded: Installation) -> None:
    before = json.loads(upgraded.keyring.read_text())["keys"]
    code, _, _ = _run(upgraded, "keys", "rotate", "--signing")
    assert code == 0
    after = json.loads(upgraded.keyring.read_text())["keys"]
    assert len(after["data_keys"]) == len(before["data_keys"]) + 1
    assert len(after["signing_keys"]) == len(before["signing_keys"]) + 1
    assert after["data_keys"][0] == before["data_keys"][0]
    listing = _run(upgraded, "keys", "list")[1]
    assert after["data_keys"][1]["kid"] in listing
    assert after["data_keys"][1]["key"] not in listing
    assert stat.S_IMODE(upgraded.keyring.stat().st_mode) == 0o600


def test_config_show_masks_secrets(installation: Installation) -> None:
    env = installation.env(
        CGW_DATABASE_URL="postgresql+psycopg://gw:hunter2-secret@db/gw",
        CGW_KEYRING_PASSPHRASE="my long passphrase",
    )
    result = runner.invoke(app, ["config", "show"], env=env)
    assert result.exit_code == 0
    assert "hunter2-secret" not in result.stdout
    assert "my long passphrase" not in result.stdout
    assert "CGW_DATABASE_URL=postgresql+psycopg://gw:***@db/gw" in result.stdout
    assert "CGW_KEYRING_PASSPHRASE=********" in result.stdout


def test_production_never_creates_a_keyring_by_itself(installation: Installation) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env=installation.env(CGW_ENVIRONMENT="production"))
    assert result.exit_code == 2
    assert "CGW_KEYRING: file not found" in result.stderr
    assert not installation.keyring.exists()


def test_database_refuses_a_keyring_it_was_not_created_with(upgraded: Installation) -> None:
    other = upgraded.root / "other-keyring.json"
    result = runner.invoke(app, ["org", "list"], env=upgraded.env(CGW_KEYRING=str(other)))
    assert result.exit_code == 2
    assert "does not belong to this database" in result.stderr


def test_help_documents_every_subcommand() -> None:
    result = runner.invoke(app, ["--help"])
    for command in ("serve", "db", "org", "client", "personnel", "token", "keys", "config"):
        assert command in result.stdout
    assert "--part2-program" in runner.invoke(app, ["org", "add", "--help"]).stdout
