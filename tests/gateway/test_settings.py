"""Settings: malformed values are named by their variable; secrets never shown."""

from __future__ import annotations

import pytest

from gateway.settings import MASK, Environment, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the environment: start each test from none of the developer's."""
    import os

    for name in list(os.environ):
        if name.startswith("CGW_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_single_machine_setup() -> None:
    settings = load_settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.database_url.get_secret_value() == "sqlite:///./var/gateway.db"
    assert str(settings.keyring) == "var/keyring.json"
    assert settings.environment is Environment.DEVELOPMENT


def test_settings_come_from_cgw_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGW_PORT", "9090")
    monkeypatch.setenv("CGW_DATABASE_URL", "postgresql+psycopg://u:p@db:5432/gateway")
    settings = load_settings()
    assert settings.port == 9090
    assert not settings.is_sqlite


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("CGW_DATABASE_URL", "not a url at all", "not a database URL"),
        ("CGW_DATABASE_URL", "mysql://u:p@h/db", "unsupported driver"),
        ("CGW_DATABASE_URL", "postgresql+psycopg://u:p@h", "names no database"),
        ("CGW_PORT", "http", "integer"),
        ("CGW_PORT", "70000", "65535"),
        ("CGW_LOG_LEVEL", "loud", "debug, info"),
        ("CGW_ENVIRONMENT", "staging", "development"),
    ],
)
def test_malformed_setting_is_named_and_its_value_is_not_echoed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.setting == variable
    assert reason in caught.value.reason
    if variable == "CGW_DATABASE_URL":
        assert value not in str(caught.value)


def test_oidc_jwks_without_issuer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGW_OIDC_JWKS_URL", "https://idp.example/jwks")
    with pytest.raises(SettingsError, match="CGW_OIDC_ISSUER is required"):
        load_settings()


def test_plain_http_jwks_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGW_ENVIRONMENT", "production")
    monkeypatch.setenv("CGW_OIDC_JWKS_URL", "http://idp.example/jwks")
    monkeypatch.setenv("CGW_OIDC_ISSUER", "https://idp.example")
    with pytest.raises(SettingsError, match="https in production"):
        load_settings()


def test_masked_configuration_hides_passwords_and_passphrases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CGW_DATABASE_URL", "postgresql+psycopg://gw:s3cret-pw@db:5432/gateway")
    monkeypatch.setenv("CGW_KEYRING_PASSPHRASE", "a long passphrase")
    shown = load_settings().masked()
    rendered = repr(shown)
    assert "s3cret-pw" not in rendered
    assert "a long passphrase" not in rendered
    assert shown["CGW_KEYRING_PASSPHRASE"] == MASK
    assert shown["CGW_DATABASE_URL"] == "postgresql+psycopg://gw:***@db:5432/gateway"
    assert shown["CGW_PORT"] == 8080
