"""Settings: one typed object read from `CGW_*` environment variables, passed in, never global.

Invariants:
- Reading settings never touches the network or the database; it only parses and validates,
  so a malformed value is reported by its variable name before anything starts.
- Secrets are `SecretStr` (their repr masks them); `masked()` is what `config show` prints.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from audit.cosignature import CosignerKey
from audit.errors import CheckpointError

ENV_PREFIX = "CGW_"
SUPPORTED_DATABASE_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")
MASK = "********"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SettingsError(Exception):
    """A setting is malformed; `setting` names the environment variable, never its value."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


class Settings(BaseSettings):
    """Everything the gateway reads from its environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    database_url: SecretStr = SecretStr("sqlite:///./var/gateway.db")
    keyring: Path = Path("./var/keyring.json")
    keyring_passphrase: SecretStr | None = None  # wraps the keyring's keys at rest when set

    # Embedded token issuer (offline use; `consent-gateway token issue`). Turn it off in
    # production once an OIDC issuer is configured.
    embedded_issuer: bool = True
    token_issuer: str = "urn:consent-gateway:embedded"  # noqa: S105 - an issuer URN
    token_audience: str = "consent-gateway"  # noqa: S105 - an audience name
    token_max_ttl: int = Field(default=86_400, ge=60)  # seconds

    # External OIDC issuer (production): tokens verified against its JWKS.
    oidc_jwks_url: str | None = None
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_client_claim: str = "client_id"  # RFC 9068; `azp` is tried when it is absent

    http_threads: int = Field(default=8, ge=1, le=256)  # threads running request handlers

    # Ingest (HL7 v2 over MLLP and HTTP, FHIR over HTTP).
    max_message_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # bytes, per body or MLLP frame
    hl7_strict: bool = False  # validate HL7 v2 structure with hl7apy (about 12 ms per message)
    mllp_enabled: bool = True
    mllp_host: str | None = None  # defaults to CGW_HOST
    mllp_port: int = Field(default=2575, ge=1, le=65535)
    mllp_idle_timeout: float = Field(default=300.0, gt=0)  # seconds without a byte before a connection closes
    mllp_max_connections: int = Field(default=200, ge=1)  # per listener process
    mllp_workers: int = Field(default=1, ge=1, le=32)  # listener processes sharing the MLLP port
    hl7_commit_delay_ms: float = Field(default=1.0, ge=0, le=100)  # group commit: wait for more senders

    # Policy engine: in process (regopy) unless an OPA server is configured.
    opa_url: str | None = None  # e.g. http://opa:8181; the policies are loaded into it at start
    policy_overlays: str = ""  # directories of state overlay modules, separated by ':'
    decision_cache_size: int = Field(default=4096, ge=0)  # 0 turns the decision cache off
    policy_interpreters: int | None = Field(default=None, ge=1, le=64)  # default: one per usable core

    # Audit log (DESIGN.md 10): the origin names this log in every record and checkpoint.
    audit_origin: str | None = Field(default=None, pattern=r"^[^\s+]+$")  # default: per keyring
    audit_interval: float = Field(default=0.25, gt=0, le=60)  # seconds between integrations
    audit_batch: int = Field(default=1024, ge=1, le=100_000)  # records integrated per transaction
    audit_backlog_warn: int = Field(default=2048, ge=1)  # pending records: warn, /readyz "behind"
    audit_backlog_refuse: int = Field(default=4096, ge=1)  # pending records: refuse (503 / AE)
    audit_max_merge_delay: float = Field(default=60.0, gt=0)  # seconds a record may wait: warn
    # Witnesses (C2SP tlog-witness): "URL KEY" pairs separated by ';', KEY from `witness init`.
    audit_witnesses: str = ""
    audit_witness_interval: float = Field(default=10.0, gt=0, le=3600)  # seconds between rounds

    log_level: str = "info"
    log_json: bool = True

    @field_validator("database_url")
    @classmethod
    def _database_url_is_supported(cls, value: SecretStr) -> SecretStr:
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError:
            raise ValueError(
                "not a database URL (expected sqlite:///PATH or postgresql+psycopg://…)"
            ) from None
        if url.drivername not in SUPPORTED_DATABASE_DRIVERS:
            raise ValueError(
                f"unsupported driver {url.drivername!r}; use one of {', '.join(SUPPORTED_DATABASE_DRIVERS)}"
            )
        if url.drivername.startswith("postgresql") and not url.database:
            raise ValueError("PostgreSQL URL names no database")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level_is_known(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("expected debug, info, warning or error")
        return value.lower()

    @model_validator(mode="after")
    def _oidc_is_complete(self) -> Settings:
        if self.oidc_jwks_url and not self.oidc_issuer:
            raise ValueError("CGW_OIDC_ISSUER is required when CGW_OIDC_JWKS_URL is set")
        if self.oidc_jwks_url and not self.oidc_jwks_url.startswith(("https://", "http://")):
            raise ValueError("CGW_OIDC_JWKS_URL must be an http(s) URL")
        if (
            self.environment is Environment.PRODUCTION
            and self.oidc_jwks_url
            and self.oidc_jwks_url.startswith("http://")
        ):
            raise ValueError("CGW_OIDC_JWKS_URL must use https in production")
        return self

    @model_validator(mode="after")
    def _backlog_limits_are_ordered(self) -> Settings:
        if self.audit_backlog_warn > self.audit_backlog_refuse:
            raise ValueError("CGW_AUDIT_BACKLOG_WARN must not exceed CGW_AUDIT_BACKLOG_REFUSE")
        return self

    @model_validator(mode="after")
    def _witnesses_are_well_formed(self) -> Settings:
        for url, key in self.audit_witness_list:
            if not url.startswith(("https://", "http://")):
                raise ValueError("CGW_AUDIT_WITNESSES: each witness is 'URL KEY' with an http(s) URL")
            try:
                CosignerKey.decode(key)
            except CheckpointError as exc:
                raise ValueError(f"CGW_AUDIT_WITNESSES: {exc}") from None
        return self

    @property
    def audit_witness_list(self) -> tuple[tuple[str, str], ...]:
        """(URL, witness key) per configured witness."""
        pairs = []
        for entry in self.audit_witnesses.split(";"):
            if not entry.strip():
                continue
            parts = entry.split()
            if len(parts) != 2:
                raise ValueError("CGW_AUDIT_WITNESSES: each witness is 'URL KEY', separated by ';'")
            pairs.append((parts[0], parts[1]))
        return tuple(pairs)

    @property
    def database(self) -> URL:
        return make_url(self.database_url.get_secret_value())

    @property
    def is_sqlite(self) -> bool:
        return self.database.drivername.startswith("sqlite")

    @property
    def keyring_passphrase_value(self) -> str | None:
        return self.keyring_passphrase.get_secret_value() if self.keyring_passphrase else None

    @property
    def policy_overlay_dirs(self) -> tuple[Path, ...]:
        return tuple(Path(part) for part in self.policy_overlays.split(":") if part.strip())

    @property
    def policy_interpreter_count(self) -> int:
        """In-process Rego interpreters: evaluations run outside the GIL, one per core in parallel."""
        if self.policy_interpreters is not None:
            return self.policy_interpreters
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1

    @property
    def effective_oidc_audience(self) -> str:
        return self.oidc_audience or self.token_audience

    def masked(self) -> dict[str, Any]:
        """The effective configuration for display, with every secret masked."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url":
                value = self.database.render_as_string(hide_password=True)
            elif isinstance(value, SecretStr):
                value = MASK
            elif isinstance(value, StrEnum):
                value = value.value
            elif isinstance(value, Path):
                value = str(value)
            shown[f"{ENV_PREFIX}{name.upper()}"] = value
        return shown


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and overrides), naming the variable that is wrong.

    Raises:
        SettingsError: a value is malformed.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        location = [str(part) for part in first["loc"]]
        setting = f"{ENV_PREFIX}{location[0].upper()}" if location else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(setting, message) from None
